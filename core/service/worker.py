"""What runs inside a pool worker: models loaded once per process, and the jobs, each a pure function of its
arguments (meme id, face record, options), so they can move to a distributed pool unchanged."""

from __future__ import annotations

import hashlib
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
from core.catalog.prepare import PreparedCatalog, prepare_catalog
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
    upgraded_records: int = 256  # face records from an older engine each worker keeps re-analysed
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
    #: records made by another engine (people registered before an engine change), re-analysed once each
    upgraded: OrderedDict[bytes, SourceFace] = field(default_factory=OrderedDict)
    feedback_generation: int = -1  # none loaded yet: the first rank loads what the store holds


_state: _State | None = None


def load_state(config: WorkerConfig) -> _State:
    embedder = load_embedder(config.model)
    engine = load_engine(config.face_backend, config.models_dir, config.limits)
    cache = DiskCache(config.cache_dir)
    try:
        prepared = prepare_catalog(load_catalog(config.catalog_dir), embedder, engine, cache, config.limits)
    finally:
        cache.close()
    return _State(config, embedder, engine, prepared, OrderedDict())


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


def job_rank(text: str, top: int, feedback_generation: int = 0) -> list[tuple[str, float]]:
    """The best memes for a sentence. A new feedback generation from the service means new votes to learn."""
    s = state()
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


def _source(s: _State, record: bytes) -> SourceFace:
    """The person's record as this worker's engine needs it; an old engine's record is re-analysed on its first
    use and kept (by content), so nobody has to register again and it costs once."""
    source = SourceFace.from_bytes(record)
    if source.engine_key == s.engine.key:
        return source
    digest = hashlib.sha256(record).digest()
    if digest not in s.upgraded:
        s.upgraded[digest] = s.engine.own_source(source)
        while len(s.upgraded) > s.config.upgraded_records:
            s.upgraded.popitem(last=False)
    s.upgraded.move_to_end(digest)
    return s.upgraded[digest]


def job_render(meme_id: str, record: bytes | None, target: str = "default") -> tuple[bytes, bool, tuple[str, ...]]:
    """The meme as JPEG with the face swapped in (the original when there is no face), whether a face was
    swapped, and notices (message keys) about faces left as they were."""
    s = state()
    outcome = render(s, meme_id, _source(s, record) if record else None, target)
    if outcome is None:
        return _encode(s, meme_image(s, meme_id)), False, ()
    return _encode(s, outcome.image), bool(outcome.swapped), outcome.notices
