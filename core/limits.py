"""Every limit the core enforces, named in one place with its default (see bot.config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 500
    max_image_bytes: int = 15 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    # larger pictures are shrunk while decoding (JPEG at 1/2-1/8 scale), so the worst allowed photo stays cheap
    max_decode_pixels: int = 12_000_000
    # formats other than JPEG decode whole first: their pictures are allowed up to this (bench/photo_memory.py)
    max_full_decode_pixels: int = 16_000_000
    min_face_px: int = 40
    max_output_side: int = 1280
    max_output_bytes: int = 5 * 1024 * 1024
    max_faces_per_person: int = 5
    rate_per_minute: int = 20
    queue_length: int = 32
    # a job (rank, render, register) not answered by then fails with a message and its worker is replaced
    job_timeout_s: float = 20.0
