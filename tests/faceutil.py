"""Identity checks for tests: does an image carry a given person's face? (dlib's 128-d model, independent
of the swap: < 0.6 is conventionally the same person, lower is closer.)"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from core.images import decode_image
from core.limits import Limits

if TYPE_CHECKING:
    from core.faces.dlib_engine import DlibEngine


@functools.cache
def _engine() -> DlibEngine:
    from core.faces.dlib_engine import DlibEngine  # lazily: dlib loads ~100 MB of models

    return DlibEngine()


def face_vector(image: bytes | np.ndarray) -> np.ndarray | None:
    """The 128-d identity of the largest face, or None when there is none."""
    rgb = decode_image(image, Limits()) if isinstance(image, bytes | bytearray) else np.asarray(image)
    engine = _engine()
    faces = engine.detect(rgb)
    return engine.identity(rgb, faces[0]) if faces else None


def identity_distance(image_a: bytes | np.ndarray, image_b: bytes | np.ndarray) -> float:
    """Euclidean distance between the largest faces' identities; inf when either image has no face."""
    a, b = face_vector(image_a), face_vector(image_b)
    if a is None or b is None:
        return float("inf")
    return float(np.linalg.norm(a - b))
