"""What runs inside a pool worker: models loaded once per process, and the jobs, each a pure function of its
arguments (meme id, face record, options), so they can move to a distributed pool unchanged."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.catalog.cache import DiskCache
from core.catalog.catalog import load_catalog
from core.catalog.edit import catalog_version
from core.catalog.prepare import PreparedCatalog, prepare_catalog
from core.errors import FffusionError
from core.faces.base import FaceEngine, SourceFace, SwapOutcome
from core.faces.engines import choose_targets, load_engine
from core.images import decode_image, encode_image
from core.limits import Limits
from core.recommend.embedders import Embedder
from core.recommend.feedback import Feedback, Signal
from core.recommend.load import load_embedder
from core.recommend.recommender import embed_cached
from core.service.store import VOTES_SQL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    catalog_dir: Path
    cache_dir: Path
    model: str = "default"
    face_backend: str = "auto"
    models_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    decoded_memes: int = 64  # decoded meme images each worker keeps
    #: the service's SQLite file, read for what people kept or skipped; None = no learning from use
    feedback_db: Path | None = None
    feedback_votes: int = 20_000  # the newest votes that count


@dataclass
class _State:
    config: WorkerConfig
    embedder: Embedder
    engine: FaceEngine
    prepared: PreparedCatalog
    images: OrderedDict[str, np.ndarray]
    catalog_version: str = ""
    failed_version: str = ""  # a version that did not prepare is not tried again with every job
    feedback_generation: int = -1  # none loaded yet: the first rank loads what the store holds


_state: _State | None = None


def _prepare(config: WorkerConfig, embedder: Embedder, engine: FaceEngine) -> tuple[PreparedCatalog, str]:
    """The catalog as it is on disk now, and its version (read first: a change while preparing shows as a
    version the service will announce again, never as a new catalog under an old version)."""
    version = catalog_version(config.catalog_dir)
    cache = DiskCache(config.cache_dir)
    try:
        return prepare_catalog(load_catalog(config.catalog_dir), embedder, engine, cache, config.limits), version
    finally:
        cache.close()


def load_state(config: WorkerConfig) -> _State:
    embedder = load_embedder(config.model)
    engine = load_engine(config.face_backend, config.models_dir, config.limits)
    prepared, version = _prepare(config, embedder, engine)
    return _State(config, embedder, engine, prepared, OrderedDict(), version)


def sync_catalog(s: _State, version: str | None) -> None:
    """Re-prepare the catalog when the service announces another version: only new or changed texts and
    images are embedded or searched (the disk cache has the rest), so the running bot picks up an edit."""
    if version is None or version in (s.catalog_version, s.failed_version):
        return
    try:
        s.prepared, s.catalog_version = _prepare(s.config, s.embedder, s.engine)
    except FffusionError as err:  # e.g. an image over the pixel limit: keep serving the catalog prepared before
        log.error("cannot prepare catalog version %s, serving %s: %s", version, s.catalog_version, err)
        s.failed_version = version
        return
    s.images.clear()
    s.feedback_generation = -1  # the votes are keyed to the old meme list: reload them with the next rank


def init_worker(config: WorkerConfig) -> None:
    """Pool initializer. One thread per worker: the pool already runs one worker per core, and nested
    thread pools (OpenMP in the embedder, OpenCV's) would only fight over the same cores."""
    global _state
    os.environ["OMP_NUM_THREADS"] = "1"  # read when the embedder's native library loads, below
    cv2.setNumThreads(1)
    _state = load_state(config)
    # Run every lazy path once now, so the first person served does not pay for it.
    _state.prepared.recommender.rank("안녕", top=1)


def state() -> _State:
    if _state is None:
        raise RuntimeError("worker not initialised")
    return _state


def meme_image(s: _State, meme_id: str) -> np.ndarray:
    image = s.images.get(meme_id)
    if image is None:
        catalog = s.prepared.catalog
        image = decode_image(catalog.image_bytes(catalog.by_id[meme_id]), s.config.limits)
        s.images[meme_id] = image
        if len(s.images) > s.config.decoded_memes:
            s.images.popitem(last=False)
    else:
        s.images.move_to_end(meme_id)
    return image


def _encode(s: _State, rgb: np.ndarray) -> bytes:
    limits = s.config.limits
    return encode_image(rgb, "jpeg", quality=90, max_side=limits.max_output_side, max_bytes=limits.max_output_bytes)


def _load_feedback(s: _State) -> Feedback:
    """Votes from the service's store (read-only), their sentences embedded through the disk cache."""
    db = sqlite3.connect(f"file:{s.config.feedback_db}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(VOTES_SQL, (s.config.feedback_votes,)).fetchall()
    finally:
        db.close()
    cache = DiskCache(s.config.cache_dir)
    try:
        vectors, _ = embed_cached(s.embedder, [text for _, text, _, _ in rows], cache)
    finally:
        cache.close()
    signals = [Signal(str(p), m, v, vote) for (p, _, m, vote), v in zip(rows, vectors, strict=True)]
    return Feedback(signals, [m.id for m in s.prepared.catalog.memes])


def job_rank(
    text: str, top: int, feedback_generation: int = 0, catalog: str | None = None
) -> list[tuple[str, float]]:
    """The best memes for a sentence. A new feedback generation from the service means new votes to learn;
    `catalog` is the catalog version the service serves."""
    s = state()
    sync_catalog(s, catalog)
    recommender = s.prepared.recommender
    if s.config.feedback_db is not None and feedback_generation != s.feedback_generation:
        recommender.feedback = _load_feedback(s)
        s.feedback_generation = feedback_generation
    return [(r.meme_id, r.score) for r in recommender.rank(text, top=top)]


def job_register(image: bytes) -> tuple[bytes, bytes, tuple[str, ...], str]:
    """A photo -> (face record, the aligned crop as JPEG to show, notices, engine key). The photo is dropped."""
    s = state()
    source, notices = s.engine.make_source(decode_image(image, s.config.limits))
    crop = encode_image(source.crop, "jpeg", quality=92)
    return source.to_bytes(), crop, tuple(notices), s.engine.key


def render(s: _State, meme_id: str, source: SourceFace | None, target: str | int = "default") -> SwapOutcome | None:
    """The meme with the face swapped in; None when there is no face to use or none to replace."""
    meme = s.prepared.catalog.by_id[meme_id]
    faces = s.prepared.targets.get(meme_id, [])
    if source is None or not faces:
        return None
    chosen = [faces[i] for i in choose_targets(faces, target, meme.faces or None)]
    return s.engine.swap(meme_image(s, meme_id), chosen, s.engine.own_source(source))


def job_render(
    meme_id: str, record: bytes | None, target: str = "default", catalog: str | None = None
) -> tuple[bytes, bool, tuple[str, ...]]:
    """The meme as JPEG with the face swapped in (the original when there is no face), whether a face was
    swapped, and notices (message keys) about faces left as they were."""
    s = state()
    sync_catalog(s, catalog)
    outcome = render(s, meme_id, SourceFace.from_bytes(record) if record else None, target)
    if outcome is None:
        return _encode(s, meme_image(s, meme_id)), False, ()
    return _encode(s, outcome.image), bool(outcome.swapped), outcome.notices


@dataclass(frozen=True)
class MemeFaces:
    """What the studio shows of one meme: its size, the faces found (x1, y1, x2, y2; largest first), the ones
    swapped by default, and whether a sample face was swapped in (None: no sample face given)."""

    meme_id: str
    width: int
    height: int
    boxes: tuple[tuple[int, int, int, int], ...]
    default: tuple[int, ...]
    sample_swaps: bool | None


def job_inspect(catalog: str | None, sample: bytes | None) -> list[MemeFaces]:
    """Every meme's faces, and whether the sample face (a face record) swaps onto it."""
    s = state()
    sync_catalog(s, catalog)
    source = SourceFace.from_bytes(sample) if sample else None
    out = []
    for meme in s.prepared.catalog.memes:
        faces = s.prepared.targets.get(meme.id, [])
        height, width = meme_image(s, meme.id).shape[:2]
        outcome = render(s, meme.id, source) if source is not None else None
        out.append(MemeFaces(
            meme.id, width, height,
            tuple(tuple(round(float(v)) for v in f.bbox[:4]) for f in faces),  # type: ignore[misc]
            tuple(choose_targets(faces, "default", meme.faces or None)),
            None if source is None else bool(outcome and outcome.swapped),
        ))
    return out
