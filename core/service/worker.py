"""What runs inside a pool worker: models loaded once per process, and the jobs, each a pure function of its
arguments (meme id, face record, options), so they can move to a distributed pool unchanged."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.bounded import Bounded
from core.catalog.cache import DiskCache
from core.catalog.catalog import load_catalog
from core.catalog.check import CheckReport, check_catalog
from core.catalog.edit import catalog_version
from core.catalog.prepare import PreparedCatalog, prepare_catalog
from core.errors import FffusionError
from core.faces.base import DetectedFace, FaceEngine, SourceFace, SwapOutcome
from core.faces.engines import choose_targets, load_engine
from core.images import decode_image, encode_image
from core.limits import Limits
from core.recommend.confidence import CHOICES, Decision, confidence
from core.recommend.embedders import Embedder
from core.recommend.feedback import Feedback, Signal, Votes
from core.recommend.load import load_embedder
from core.recommend.recommender import embed_cached
from core.subtitle import Line, finish, sentence_lines

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
    #: catalog versions each worker keeps prepared beside the one it serves: instances that serve different
    #: versions for a while (one edited in the studio, another not yet) cost no re-prepare per job
    prepared_catalogs: int = 1


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
class Upgraded:
    """A person's face record re-analysed by this worker's engine from one an older engine made. It goes back with
    the answer and the service stores it in place of the old one: it costs once, and no worker keeps a face."""

    record: bytes
    engine: str


@dataclass(frozen=True)
class Composed:
    image: bytes  # JPEG
    swapped: bool  # whether a face was swapped in
    notices: tuple[str, ...]  # message keys about faces left as they were
    upgraded: Upgraded | None = None  # the record that was swapped in, when it had to be re-analysed


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
    images: Bounded[tuple[str, str], np.ndarray]  # decoded memes by (catalog version, meme id)
    learned: str | None = None  # the generation of the votes the ranking uses (None: none)
    catalog_version: str = ""  # core.catalog.edit.catalog_version of the catalog prepared
    failed_version: str = ""  # a version that did not prepare is not tried again with every job
    #: other versions prepared before, with the votes' generation each ranks with
    others: Bounded[str, tuple[PreparedCatalog, str | None]] = field(default_factory=lambda: Bounded(0))
    #: where the folder of a catalog version comes from (core.service.catalogs.SharedCatalogs, for a worker on
    #: the queue); None: the configured folder, as it is on disk now
    fetch: Callable[[str], Path] | None = None


_state: _State | None = None


def _prepare(config: WorkerConfig, folder: Path, embedder: Embedder, engine: FaceEngine
             ) -> tuple[PreparedCatalog, str]:
    """The catalog in `folder` as it is now, and its version (read first: a change while preparing shows as a
    version the service will announce again, never as a new catalog under an old version)."""
    version = catalog_version(folder)
    cache = DiskCache(config.cache_dir)
    try:
        return prepare_catalog(load_catalog(folder), embedder, engine, cache, config.limits), version
    finally:
        cache.close()


def load_state(config: WorkerConfig) -> _State:
    embedder = load_embedder(config.model)
    engine = load_engine(config.face_backend, config.models_dir, config.limits)
    prepared, version = _prepare(config, config.catalog_dir, embedder, engine)
    return _State(config, embedder, engine, prepared, Bounded(config.decoded_memes), catalog_version=version,
                  others=Bounded(config.prepared_catalogs))


def follow_shared_catalogs(fetch: Callable[[str], Path]) -> None:
    """In a worker on the queue: catalog versions come from `fetch` (the instances share theirs), not from this
    machine's own catalog folder."""
    state().fetch = fetch


def sync_catalog(s: _State, version: str | None) -> None:
    """Serve the version the service announces: one kept prepared, else prepared now from its folder (fetched
    once when shared; only new or changed texts and images are embedded or searched, the disk cache has the
    rest), so the running bot picks up an edit and every job after it runs on the prepared catalog."""
    if not version or version in (s.catalog_version, s.failed_version):
        return
    kept = s.others.pop(version)
    if kept is None:
        folder = s.fetch(version) if s.fetch is not None else s.config.catalog_dir  # ServiceError: not shared
        try:
            prepared, found = _prepare(s.config, folder, s.embedder, s.engine)
        except FffusionError as err:  # e.g. an image over the pixel limit: keep serving the catalog prepared before
            log.error("cannot prepare catalog version %s, serving %s: %s", version, s.catalog_version, err)
            s.failed_version = version
            return
        # the votes are learned against the meme list: the first rank on it asks for them
        kept, version = (prepared, None), found
        log.info("prepared catalog version %s (%d memes)", version, len(prepared.catalog.memes))
    if s.fetch is not None:  # on the queue, instances may serve different versions for a while
        s.others.put(s.catalog_version, (s.prepared, s.learned))
    (s.prepared, s.learned), s.catalog_version = kept, version


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
    image = s.images.get((s.catalog_version, meme_id))
    if image is None:
        catalog = s.prepared.catalog
        image = decode_image(catalog.image_bytes(catalog.by_id[meme_id]), s.config.limits)
        s.images.put((s.catalog_version, meme_id), image)
    return image


def finished(s: _State, rgb: np.ndarray, faces: list[DetectedFace], lines: tuple[Line, ...] = ()) -> np.ndarray:
    """A result as people see it: at least limits.min_output_side, its 자막 (`lines`) clear of `faces`, the
    mark (core.subtitle.finish)."""
    return finish(rgb, [f.bbox for f in faces], lines, s.config.limits)


def _encode(s: _State, rgb: np.ndarray, faces: list[DetectedFace], lines: tuple[Line, ...] = ()) -> bytes:
    """finished(), as the JPEG that is sent, with the provenance XMP."""
    limits = s.config.limits
    return encode_image(finished(s, rgb, faces, lines), "jpeg", quality=90, max_side=limits.max_output_side,
                        max_bytes=limits.max_output_bytes, provenance=True)


def subtitle_lines(s: _State, meme_id: str, sentence: str) -> tuple[Line, ...]:
    """The person's sentence as 자막 when they asked for it (`sentence` not empty), else the meme's own."""
    if sentence:
        return sentence_lines(sentence, s.config.limits.subtitle_max_chars)
    return s.prepared.catalog.by_id[meme_id].subtitle


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


def _source(s: _State, record: bytes | None) -> tuple[SourceFace | None, Upgraded | None]:
    """The person's record as this worker's engine needs it: an older engine's is re-analysed from its crop, so
    nobody has to register again, and handed back (Upgraded) for the service to store."""
    if record is None:
        return None, None
    source = SourceFace.from_bytes(record)
    if source.engine_key == s.engine.key:
        return source, None
    upgraded = s.engine.own_source(source)
    return upgraded, Upgraded(upgraded.to_bytes(), s.engine.key)


def job_compose(
    meme_id: str, record: bytes | None, target: str = "default", catalog: str | None = None, subtitle: str = ""
) -> Composed:
    """The meme as JPEG with the face swapped in (the original when there is no face). `subtitle`: the
    person's sentence, drawn as the 자막 instead of the meme's own."""
    s = state()
    sync_catalog(s, catalog)
    return _composed(s, meme_id, *_source(s, record), target, subtitle)


def _composed(s: _State, meme_id: str, source: SourceFace | None, upgraded: Upgraded | None = None,
              target: str = "default", subtitle: str = "") -> Composed:
    outcome = compose(s, meme_id, source, target)
    faces, lines = s.prepared.targets.get(meme_id, []), subtitle_lines(s, meme_id, subtitle)
    if outcome is None:
        return Composed(_encode(s, meme_image(s, meme_id), faces, lines), False, (), upgraded)
    return Composed(_encode(s, outcome.image, faces, lines), bool(outcome.swapped), tuple(outcome.notices),
                    upgraded)


def job_make(
    text: str, top: int, generation: str | None, votes: Votes | None, catalog: str | None,
    record: bytes | None, recent: tuple[str, ...], subtitle: str = "", decide: bool = False,
) -> Made:
    """A whole request in one job (one trip through a queue instead of two): the ranking, then the best-ranked
    meme the person has not just seen for this sentence (all seen: start over), composed. A meme that takes the
    person's face stands in for a marginally better one that cannot (a head turned too far, say). `subtitle`:
    as job_compose's. `decide`: nothing is composed unless the ranking is sure (the person will choose, and only
    their pick is composed)."""
    ranked = job_rank(text, top, generation, votes, catalog)
    if ranked.stale or not ranked.memes:
        return Made(ranked)
    if decide and confidence([score for _, score in ranked.memes[:CHOICES]]).decision is not Decision.ONE:
        return Made(ranked)
    s = state()
    fresh = [(m, score) for m, score in ranked.memes if m not in recent] or list(ranked.memes)
    source, upgraded = _source(s, record)
    best, best_score = fresh[0]
    first: Composed | None = None
    for meme_id, score in fresh[: 1 + FIT_TRIES] if source else fresh[:1]:
        if score < best_score - FIT_MARGIN:
            break
        composed = _composed(s, meme_id, source, upgraded, "default", subtitle)
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
    sample_notices: tuple[str, ...] = ()  # why the sample face did not swap (message keys), when it did not


def job_check(catalog: str | None, too_close: float) -> CheckReport:
    """`fffusion catalog check` for the studio: the memes the recommender confuses, and those no example reaches."""
    s = state()
    sync_catalog(s, catalog)
    return check_catalog(s.prepared.recommender, too_close)


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
            tuple(outcome.notices) if outcome else (),
        ))
    return out
