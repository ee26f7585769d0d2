"""A catalog made ready to serve: caption embeddings and each meme's target faces, computed once and
cached by content hash, so a request detects nothing on a meme and a start re-embeds nothing."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from core.catalog.cache import DiskCache, content_key
from core.catalog.catalog import Catalog, Meme
from core.clips.media import Clip
from core.clips.swap import track_face
from core.errors import InputError
from core.faces.base import DetectedFace, FaceEngine
from core.faces.engines import choose_targets
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
    #: an animated meme's face in every frame (None where it is not seen), smoothed (core/clips/swap.py)
    tracks: dict[str, list[DetectedFace | None]] = field(default_factory=dict)

    def clip(self, meme_id: str, limits: Limits, still_motion: str | None = None) -> Clip | None:
        """The meme's animation, its camera moving toward the face it swaps; a still meme moved by
        `still_motion`, or None."""
        meme = self.catalog.by_id[meme_id]
        return self.catalog.clip(meme, limits, clip_focus(self.targets.get(meme_id, []), meme), still_motion)


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


def clip_focus(faces: list[DetectedFace], meme: Meme) -> tuple[float, float, float] | None:
    """Where a camera move looks: the face the meme swaps first, as (x, y, size) in the still's pixels."""
    if not faces:
        return None
    x1, y1, x2, y2 = (float(v) for v in faces[choose_targets(faces, "default", meme.faces or None)[0]].bbox)
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1


def _pack_track(track: list[DetectedFace | None]) -> bytes:
    present = bytes(face is not None for face in track)
    return struct.pack("<I", len(present)) + present + _pack([face for face in track if face is not None])


def _unpack_track(data: bytes) -> list[DetectedFace | None]:
    (count,) = struct.unpack_from("<I", data)
    faces = iter(_unpack(data[4 + count :]))
    return [next(faces) if present else None for present in data[4 : 4 + count]]


def track_clips(
    catalog: Catalog, engine: FaceEngine, cache: DiskCache | None, limits: Limits,
    targets: dict[str, list[DetectedFace]], progress: Progress | None = None,
) -> dict[str, list[DetectedFace | None]]:
    """Every animated meme's face track, cached by what makes it: the picture, the camera move, the frame size,
    the smoothing and the engine."""
    todo: dict[str, tuple[Meme, str]] = {}
    for meme in catalog.memes:
        if catalog.is_animated(meme):
            focus = clip_focus(targets[meme.id], meme)
            recipe = f"{meme.animation}:{limits.clip_side}:{limits.clip_smoothing_frames}:{focus}"
            todo[meme.id] = (meme, content_key(engine.key, "track", recipe, catalog.image_bytes(meme)))
    found = cache.get_many({key for _, key in todo.values()}) if cache else {}
    missing = {key: meme for meme, key in todo.values() if key not in found}
    fresh: dict[str, bytes] = {}
    for done, (key, meme) in enumerate(missing.items(), 1):
        clip = catalog.clip(meme, limits, clip_focus(targets[meme.id], meme))
        assert clip is not None
        fresh[key] = _pack_track(track_face(clip.frames, engine, "default", meme.faces or None, limits))
        if progress:
            progress("clips", done, len(missing))
    if cache and fresh:
        cache.put_many(fresh)
    packed = {**found, **fresh}
    return {meme_id: _unpack_track(packed[key]) for meme_id, (_, key) in todo.items()}


def prepare_catalog(
    catalog: Catalog, embedder: Embedder, engine: FaceEngine, cache: DiskCache | None, limits: Limits,
    progress: Progress | None = None,
) -> PreparedCatalog:
    recommender = Recommender(catalog, embedder, cache, progress)
    targets, fresh = detect_targets(catalog, engine, cache, limits, progress)
    tracks = track_clips(catalog, engine, cache, limits, targets, progress)
    return PreparedCatalog(catalog, recommender, targets, fresh, tracks)
