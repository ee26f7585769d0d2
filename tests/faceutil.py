"""Identity checks for tests: does an image carry a given person's face? (dlib's 128-d model, independent
of the swap: < 0.6 is conventionally the same person, lower is closer.)"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bot.config import DEMO_CATALOG
from core.catalog.catalog import load_catalog
from core.images import decode_image
from core.limits import Limits

if TYPE_CHECKING:
    from core.faces.base import FaceEngine
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


@functools.cache
def _serving_engine() -> FaceEngine:
    from core.faces.engines import load_engine

    return load_engine()


def who_is_where(meme_id: str, result: bytes, photos: dict[str, bytes], count: int) -> list[str]:
    """Whose face each of the first `count` places of the meme's fill order shows: the person whose face,
    swapped alone onto that place of the original meme, looks most like the result there ("nobody" when the
    original is closer than anyone). At these face sizes (~100 px) the classical swap moves dlib's identity
    only ~0.03-0.08, too little to tell three people apart, while the pixels tell them apart clearly."""
    catalog = load_catalog(DEMO_CATALOG)
    meme = catalog.by_id[meme_id]
    original = decode_image(catalog.image_bytes(meme), Limits())
    rgb = decode_image(result, Limits())
    if rgb.shape != original.shape:  # a result is brought up to 640 px (core/subtitle.finish): back to the meme's
        assert abs(rgb.shape[1] / rgb.shape[0] - original.shape[1] / original.shape[0]) < 0.01
        rgb = cv2.resize(rgb, (original.shape[1], original.shape[0]), interpolation=cv2.INTER_AREA)
    rgb = rgb.astype(np.float32)
    # the engine the workers use (the configured default), so a face swapped alone is the same pixels
    engine = _serving_engine()
    slots = engine.detect(original)
    sources = {name: engine.make_source(decode_image(photo, Limits()))[0] for name, photo in photos.items()}
    who = []
    for index in meme.faces[:count]:
        x1, y1, x2, y2 = (int(v) for v in slots[index].bbox)
        region = (slice(max(0, y1), y2), slice(max(0, x1), x2))
        alone = {name: engine.swap(original, [slots[index]], source).image for name, source in sources.items()}
        alone["nobody"] = original
        error = {name: float(np.mean((image[region] - rgb[region]) ** 2)) for name, image in alone.items()}
        who.append(min(error, key=lambda name: error[name]))
    return who
