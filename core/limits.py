"""Every limit the core enforces, named in one place with its default (see bot.config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 500
    max_image_bytes: int = 15 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    min_face_px: int = 40
    max_output_side: int = 1280
    max_output_bytes: int = 5 * 1024 * 1024
    max_faces_per_person: int = 5
    rate_per_minute: int = 20
    queue_length: int = 32
    #: how far the meme's face shape moves toward the person's in the mesh swap (0 = the meme's, 1 = the
    #: person's). Chosen on bench/swap.py's pairs with the astronaut or Tom Hanks as the person (mean identity
    #: distance 0.519 / 0.513 / 0.516 / 0.537 at 0 / 0.4 / 0.7 / 1); the t1 people's pairs were held out
    face_shape: float = 0.4
