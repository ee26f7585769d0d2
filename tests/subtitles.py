"""Telling results apart by their 자막: where two encoded results differ beyond JPEG noise."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def pixels(encoded: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(encoded)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def changed_rows(a: bytes, b: bytes) -> np.ndarray:
    """Rows where two results differ beyond JPEG noise."""
    return np.flatnonzero((np.abs(pixels(a) - pixels(b)).max(axis=2) > 60).any(axis=1))


def another_subtitle(plain: bytes, own: bytes) -> bool:
    """The same meme with another subtitle at the bottom (the person's words instead of the meme's own)."""
    rows = changed_rows(plain, own)
    return bool(len(rows) > 20 and rows.min() > pixels(own).shape[0] * 0.5)
