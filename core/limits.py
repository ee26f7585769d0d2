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
    #: `fffusion catalog check`: two memes whose caption-and-examples centroids, relative to the catalog's mean, are at
    #: least this similar (cosine) are reported as confusable (core/catalog/check.py)
    confusable_similarity: float = 0.75
