"""Face images that ship inside installed packages, for tests and the swap bench (nothing is committed).

- insightface's t1.jpg: six people around a table (dlib finds all six faces)
- insightface's Tom_Hanks_54745.png: a 112 px black-and-white aligned face crop
- scikit-image's astronaut: one colour portrait
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image


def _insightface_image(name: str) -> Path:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None, "insightface is not installed"
    return Path(spec.origin).parent / "data" / "images" / name


T1_PATH = _insightface_image("t1.jpg")
TOM_HANKS_PATH = _insightface_image("Tom_Hanks_54745.png")

#: t1.jpg's people, left to right, by the x of their face's centre (as dlib finds them)
T1_PEOPLE = ("rachel", "monica", "ross", "chandler", "joey", "phoebe")


@functools.cache
def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def group_photo() -> np.ndarray:
    return _rgb(T1_PATH).copy()


def tom_hanks() -> np.ndarray:
    return _rgb(TOM_HANKS_PATH).copy()


@functools.cache
def _astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())


def astronaut() -> np.ndarray:
    return _astronaut().copy()


def crop_around(rgb: np.ndarray, bbox: np.ndarray, margin: float = 0.8) -> np.ndarray:
    """The face's box grown by `margin` of its size on each side: a picture of that one person."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    pad = margin * max(x2 - x1, y2 - y1)
    height, width = rgb.shape[:2]
    left, top = max(0, int(x1 - pad)), max(0, int(y1 - pad))
    right, bottom = min(width, int(x2 + pad)), min(height, int(y2 + pad))
    return rgb[top:bottom, left:right].copy()


def encode(rgb: np.ndarray, fmt: str = "PNG", **params: object) -> bytes:
    import io

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **params)
    return out.getvalue()
