"""A catalog made ready to serve: caption embeddings and each meme's target faces, computed once and
cached by content hash, so a request detects nothing on a meme and a start re-embeds nothing."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from core.catalog.cache import DiskCache, content_key
from core.catalog.catalog import Catalog, Meme
from core.errors import InputError
from core.faces.base import DetectedFace, FaceEngine
from core.images import decode_image
from core.limits import Limits
from core.recommend.embedders import Embedder
from core.recommend.recommender import Progress, Recommender


@dataclass
class PreparedCatalog:
    catalog: Catalog
    recommender: Recommender
    targets: dict[str, list[DetectedFace]]
    freshly_detected: int


def _pack(faces: list[DetectedFace]) -> bytes:
    parts = [face.to_bytes() for face in faces]
    return struct.pack("<I", len(parts)) + b"".join(struct.pack("<I", len(p)) + p for p in parts)


def _unpack(data: bytes) -> list[DetectedFace]:
    (count,), offset, faces = struct.unpack_from("<I", data), 4, []
    for _ in range(count):
        (size,) = struct.unpack_from("<I", data, offset)
        faces.append(DetectedFace.from_bytes(data[offset + 4 : offset + 4 + size]))
        offset += 4 + size
    return faces


def _decode(meme: Meme, data: bytes, limits: Limits) -> np.ndarray:
    try:
        return decode_image(data, limits)
    except InputError as err:  # name the catalog entry, not "your photo"
        if err.key in ("image.not_image", "image.truncated"):
            raise InputError("catalog.bad_image", path=meme.where or meme.image) from None
        raise


def detect_targets(
    catalog: Catalog, engine: FaceEngine, cache: DiskCache | None, limits: Limits, progress: Progress | None = None
) -> tuple[dict[str, list[DetectedFace]], int]:
    """Faces of every meme, largest first; only images the cache has not seen are decoded and searched (once
    for memes that share a picture)."""
    keys: dict[str, tuple[Meme, bytes]] = {}
    key_of: dict[str, str] = {}
    for meme in catalog.memes:
        data = catalog.image_bytes(meme)
        key_of[meme.id] = key = content_key(engine.key, data)
        keys.setdefault(key, (meme, data))
    found = cache.get_many(keys) if cache else {}
    fresh: dict[str, bytes] = {}
    todo = [(key, meme, data) for key, (meme, data) in keys.items() if key not in found]
    for done, (key, meme, data) in enumerate(todo, 1):
        fresh[key] = _pack(engine.detect(_decode(meme, data, limits)))
        if progress:
            progress("images", done, len(todo))
    if cache and fresh:
        cache.put_many(fresh)
    packed = {**found, **fresh}
    return {meme_id: _unpack(packed[key]) for meme_id, key in key_of.items()}, len(fresh)


def prepare_catalog(
    catalog: Catalog, embedder: Embedder, engine: FaceEngine, cache: DiskCache | None, limits: Limits,
    progress: Progress | None = None,
) -> PreparedCatalog:
    recommender = Recommender(catalog, embedder, cache, progress)
    targets, fresh = detect_targets(catalog, engine, cache, limits, progress)
    return PreparedCatalog(catalog, recommender, targets, fresh)
