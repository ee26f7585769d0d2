"""What runs inside a pool worker: models loaded once per process, and the jobs, each a pure function of its
arguments (meme id, face record, options), so they can move to a distributed pool unchanged."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.bounded import Bounded
from core.catalog.cache import DiskCache
from core.catalog.catalog import load_catalog
from core.catalog.edit import catalog_version
from core.catalog.prepare import PreparedCatalog, prepare_catalog
from core.errors import FffusionError
from core.faces.base import FaceEngine, SourceFace, SwapOutcome
from core.faces.engines import choose_targets, load_engine
from core.images import decode_image, encode_image
from core.limits import Limits
from core.recommend.confidence import CHOICES, Decision, confidence
from core.recommend.embedders import Embedder
from core.recommend.feedback import Feedback, Signal, Votes
from core.recommend.load import load_embedder
from core.recommend.recommender import embed_cached

log = logging.getLogger(__name__)

# A meme that takes the person's face may stand in for a better-ranked one that cannot, when its score is
# within FIT_MARGIN of the best; at most FIT_TRIES such stand-ins are tried.
FIT_MARGIN = 0.03
FIT_TRIES = 2


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


@dataclass(frozen=True)
class Ranked:
    """The best memes for a sentence, best first; `stale` when the worker needs the votes to rank with."""

    memes: tuple[tuple[str, float], ...]
    stale: bool = False


@dataclass(frozen=True)
class Registered:
    record: bytes  # the face record the swaps use
    crop_jpeg: bytes  # the aligned crop, to show the person
    notices: tuple[str, ...]  # message keys
    engine: str


@dataclass(frozen=True)
class Composed:
    image: bytes  # JPEG
    swapped: bool  # whether a face was swapped in
    notices: tuple[str, ...]  # message keys about faces left as they were


@dataclass(frozen=True)
class Made:
    """A request's ranking, the meme chosen from it and that meme composed (job_make); only the ranking while it
    is `stale`."""

    ranked: Ranked
    meme_id: str = ""
    composed: Composed | None = None

    @property
    def stale(self) -> bool:
        return self.ranked.stale


@dataclass
class _State:
    config: WorkerConfig
    embedder: Embedder
    engine: FaceEngine
    prepared: PreparedCatalog
    images: Bounded[str, np.ndarray]  # decoded memes
    #: records made by another engine (people registered before an engine change), re-analysed once each
    upgraded: Bounded[bytes, SourceFace]
    learned: str | None = None  # the generation of the votes the ranking uses (None: none)
    catalog_version: str = ""  # core.catalog.edit.catalog_version of the catalog prepared
    failed_version: str = ""  # a version that did not prepare is not tried again with every job


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
    images, upgraded = Bounded(config.decoded_memes), Bounded(config.upgraded_records)
    return _State(config, embedder, engine, prepared, images, upgraded, catalog_version=version)


def sync_catalog(s: _State, version: str | None) -> None:
    """Re-prepare the catalog when the service announces another version: only new or changed texts and
    images are embedded or searched (the disk cache has the rest), so the running bot picks up an edit."""
    if not version or version in (s.catalog_version, s.failed_version):
        return
    try:
        s.prepared, s.catalog_version = _prepare(s.config, s.embedder, s.engine)
    except FffusionError as err:  # e.g. an image over the pixel limit: keep serving the catalog prepared before
        log.error("cannot prepare catalog version %s, serving %s: %s", version, s.catalog_version, err)
        s.failed_version = version
        return
    s.images = Bounded(s.config.decoded_memes)
    s.learned = None  # the votes are learned against the meme list: the next rank asks for them again


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
        s.images.put(meme_id, image)
    return image


def _encode(s: _State, rgb: np.ndarray) -> bytes:
    limits = s.config.limits
    return encode_image(rgb, "jpeg", quality=90, max_side=limits.max_output_side, max_bytes=limits.max_output_bytes)


def _feedback(s: _State, votes: Votes) -> Feedback:
    """The votes as a ranking adjustment, their sentences embedded through the disk cache."""
    cache = DiskCache(s.config.cache_dir)
    try:
        vectors, _ = embed_cached(s.embedder, [v.text_key for v in votes.items], cache)
    finally:
        cache.close()
    now = time.time()
    signals = [Signal(v.person_id, v.meme_id, vector, v.vote, now - v.at)
               for v, vector in zip(votes.items, vectors, strict=True)]
    return Feedback(signals, [m.id for m in s.prepared.catalog.memes], votes.settings)


def job_rank(
    text: str, top: int, generation: str | None, votes: Votes | None = None, catalog: str | None = None
) -> Ranked:
    """The best memes for a sentence, ranked with the votes of `generation`. A worker that has learned other
    votes answers `stale` unless they came with the job. `catalog`: the catalog version the service serves."""
    s = state()
    sync_catalog(s, catalog)
    recommender = s.prepared.recommender
    if generation != s.learned:
        if votes is None or votes.generation != generation:
            return Ranked((), stale=True)
        recommender.feedback = _feedback(s, votes) if votes.items else None
        s.learned = generation
    return Ranked(tuple((r.meme_id, r.score) for r in recommender.rank(text, top=top)))


def job_register(image: bytes) -> Registered:
    """A photo -> the face record, the aligned crop to show, notices. The photo is dropped."""
    s = state()
    source, notices = s.engine.make_source(decode_image(image, s.config.limits))
    crop = encode_image(source.crop, "jpeg", quality=92)
    return Registered(source.to_bytes(), crop, tuple(notices), s.engine.key)


def compose(s: _State, meme_id: str, source: SourceFace | None, target: str | int = "default") -> SwapOutcome | None:
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
    upgraded = s.upgraded.get(digest)
    if upgraded is None:
        upgraded = s.engine.own_source(source)
        s.upgraded.put(digest, upgraded)
    return upgraded


def job_compose(
    meme_id: str, record: bytes | None, target: str = "default", catalog: str | None = None
) -> Composed:
    """The meme as JPEG with the face swapped in (the original when there is no face)."""
    s = state()
    sync_catalog(s, catalog)
    return _composed(s, meme_id, _source(s, record) if record else None, target)


def _composed(s: _State, meme_id: str, source: SourceFace | None, target: str = "default") -> Composed:
    outcome = compose(s, meme_id, source, target)
    if outcome is None:
        return Composed(_encode(s, meme_image(s, meme_id)), False, ())
    return Composed(_encode(s, outcome.image), bool(outcome.swapped), tuple(outcome.notices))


def job_make(
    text: str, top: int, generation: str | None, votes: Votes | None, catalog: str | None,
    record: bytes | None, recent: tuple[str, ...], decide: bool = False,
) -> Made:
    """A whole request in one job (one trip through a queue instead of two): the ranking, then the best-ranked
    meme the person has not just seen for this sentence (all seen: start over), composed. A meme that takes the
    person's face stands in for a marginally better one that cannot (a head turned too far, say). `decide`: nothing
    is composed unless the ranking is sure (the person will choose, and only their pick is composed)."""
    ranked = job_rank(text, top, generation, votes, catalog)
    if ranked.stale or not ranked.memes:
        return Made(ranked)
    if decide and confidence([score for _, score in ranked.memes[:CHOICES]]).decision is not Decision.ONE:
        return Made(ranked)
    s = state()
    fresh = [(m, score) for m, score in ranked.memes if m not in recent] or list(ranked.memes)
    source = _source(s, record) if record else None
    best, best_score = fresh[0]
    first: Composed | None = None
    for meme_id, score in fresh[: 1 + FIT_TRIES] if source else fresh[:1]:
        if score < best_score - FIT_MARGIN:
            break
        composed = _composed(s, meme_id, source)
        if composed.swapped:
            return Made(ranked, meme_id, composed)
        first = first or composed
    return Made(ranked, best, first)


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
        outcome = compose(s, meme.id, source) if source is not None else None
        out.append(MemeFaces(
            meme.id, width, height,
            tuple(tuple(round(float(v)) for v in f.bbox[:4]) for f in faces),  # type: ignore[misc]
            tuple(choose_targets(faces, "default", meme.faces or None)),
            None if source is None else bool(outcome and outcome.swapped),
        ))
    return out
