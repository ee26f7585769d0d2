"""What runs inside a worker process: models loaded once per process into a `Context` (arq's `ctx`), and the
jobs of core/compute/contract.py, each a pure function of the context and its request, so the same request runs
in the local pool or on the Redis queue."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from core.bounded import Bounded
from core.catalog.cache import DiskCache
from core.catalog.catalog import load_catalog
from core.catalog.check import CheckReport, check_catalog
from core.catalog.edit import catalog_version
from core.catalog.prepare import PreparedCatalog, prepare_catalog
from core.compute.contract import (
    CheckJob,
    Composed,
    ComposeGroupJob,
    ComposeJob,
    GroupComposed,
    InspectJob,
    Job,
    Made,
    MakeJob,
    MemeFaces,
    PictureSwapped,
    Ranking,
    RankJob,
    Registered,
    RegisterJob,
    SwapPictureJob,
    Upgraded,
    WorkerConfig,
)
from core.errors import FffusionError, InputError
from core.faces.base import DetectedFace, FaceEngine, SourceFace, SwapOutcome
from core.faces.engines import choose_targets, load_engine
from core.images import decode_image, encode_image
from core.lines import Line
from core.recommend.confidence import CHOICES, Decision, confidence
from core.recommend.embedders import Embedder
from core.recommend.feedback import Feedback, Signal, Votes
from core.recommend.load import load_embedder
from core.recommend.recommender import embed_cached
from core.subtitle import finish, sentence_lines

log = logging.getLogger(__name__)
A = TypeVar("A")

# A meme that takes the person's face may stand in for a better-ranked one that cannot, when its score is
# within FIT_MARGIN of the best; at most FIT_TRIES such stand-ins are tried.
FIT_MARGIN = 0.03
FIT_TRIES = 2


@dataclass
class Context:
    """One worker process's models and prepared catalogs: what every job runs with (arq's `ctx`)."""

    config: WorkerConfig
    embedder: Embedder
    engine: FaceEngine
    prepared: PreparedCatalog
    images: Bounded[tuple[str, str], np.ndarray]  # decoded memes by (catalog version, meme id)
    learned: str | None = None  # the generation of the votes the ranking uses (None: none)
    catalog_version: str = ""  # core.catalog.edit.catalog_version of the catalog prepared
    failed_version: str = ""  # a version that did not prepare is not tried again with every job
    #: the memes of the version that did not prepare, when its list could be read: a job for it ranks only those
    #: of the catalog served (None: all), so no meme the bot no longer has is ever chosen
    failed_memes: frozenset[str] | None = None
    #: other versions prepared before, with the votes' generation each ranks with
    others: Bounded[str, tuple[PreparedCatalog, str | None]] = field(default_factory=lambda: Bounded(0))
    #: where the folder of a catalog version comes from (core.service.catalogs.SharedCatalogs, for a worker on
    #: the queue); None: the configured folder, as it is on disk now
    fetch: Callable[[str], Path] | None = None

    def execute(self, job: Job[A]) -> A:
        """Run one job request with this context: what both pools call in a worker."""
        answer: A = _HANDLERS[type(job)](self, job)
        return answer


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


def load_context(config: WorkerConfig) -> Context:
    embedder = load_embedder(config.model)
    engine = load_engine(config.face_backend, config.models_dir, config.limits)
    prepared, version = _prepare(config, config.catalog_dir, embedder, engine)
    return Context(config, embedder, engine, prepared, Bounded(config.decoded_memes), catalog_version=version,
                  others=Bounded(config.prepared_catalogs))


def sync_catalog(s: Context, version: str | None) -> None:
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
            s.failed_version, s.failed_memes = version, _meme_ids(folder)
            return
        # the votes are learned against the meme list: the first rank on it asks for them
        kept, version = (prepared, None), found
        log.info("prepared catalog version %s (%d memes)", version, len(prepared.catalog.memes))
    if s.fetch is not None:  # on the queue, instances may serve different versions for a while
        s.others.put(s.catalog_version, (s.prepared, s.learned))
    (s.prepared, s.learned), s.catalog_version = kept, version


def _meme_ids(folder: Path) -> frozenset[str] | None:
    try:
        return frozenset(m.id for m in load_catalog(folder).memes)
    except FffusionError:
        return None


def start(config: WorkerConfig, fetch: Callable[[str], Path] | None = None) -> Context:
    """A worker process's context. One thread per worker: the pools already run one worker per core, and nested
    thread pools (OpenMP in the embedder, OpenCV's) would only fight over the same cores. `fetch`: where catalog
    versions come from on the queue (core.service.catalogs.SharedCatalogs), instead of the configured folder."""
    os.environ["OMP_NUM_THREADS"] = "1"  # read when the embedder's native library loads, below
    cv2.setNumThreads(1)
    ctx = load_context(config)
    ctx.fetch = fetch
    # Run every lazy path once now, so the first person served does not pay for it.
    ctx.prepared.recommender.rank("안녕", top=1)
    return ctx


def meme_image(s: Context, meme_id: str) -> np.ndarray:
    image = s.images.get((s.catalog_version, meme_id))
    if image is None:
        catalog = s.prepared.catalog
        image = decode_image(catalog.image_bytes(catalog.by_id[meme_id]), s.config.limits)
        s.images.put((s.catalog_version, meme_id), image)
    return image


def finished(s: Context, rgb: np.ndarray, faces: list[DetectedFace], lines: tuple[Line, ...] = ()) -> np.ndarray:
    """A result as people see it: at least limits.min_output_side, its 자막 (`lines`) clear of `faces`, the
    mark (core.subtitle.finish)."""
    boxes = [(float(f.bbox[0]), float(f.bbox[1]), float(f.bbox[2]), float(f.bbox[3])) for f in faces]
    return finish(rgb, boxes, lines, s.config.limits)


def _encode(s: Context, rgb: np.ndarray, faces: list[DetectedFace], lines: tuple[Line, ...] = ()) -> bytes:
    """finished(), as the JPEG that is sent, with the provenance XMP."""
    limits = s.config.limits
    return encode_image(finished(s, rgb, faces, lines), "jpeg", quality=90, max_side=limits.max_output_side,
                        max_bytes=limits.max_output_bytes, provenance=True)


def subtitle_lines(s: Context, meme_id: str, sentence: str) -> tuple[Line, ...]:
    """The person's sentence as 자막 when they asked for it (`sentence` not empty), else the meme's own."""
    if sentence:
        return sentence_lines(sentence, s.config.limits.subtitle_max_chars)
    return s.prepared.catalog.by_id[meme_id].subtitle


def _feedback(s: Context, votes: Votes) -> Feedback:
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


def rank(s: Context, job: RankJob) -> Ranking:
    """The best memes for a sentence, ranked with the votes of `generation` (None: learning from use is off, no
    votes). A worker that has learned other votes answers `stale` unless they came with the job (its pool then
    hands them over: core.compute.contract.stale_generation). The answer names the catalog version it ranked on:
    the one asked for, or the one served while that did not prepare (then only memes the asked one has)."""
    sync_catalog(s, job.catalog)
    recommender = s.prepared.recommender
    if job.generation != s.learned:
        votes = job.votes if job.votes is not None and job.votes.generation == job.generation else None
        if votes is None and job.generation is not None:
            return Ranking((), s.catalog_version, stale=True)
        recommender.feedback = _feedback(s, votes) if votes is not None and votes.items else None
        s.learned = job.generation
    allowed = s.failed_memes if job.catalog and job.catalog == s.failed_version else None
    if allowed is None:
        ranked = recommender.rank(job.text, top=job.top)
    else:
        gone = sum(m.id not in allowed for m in s.prepared.catalog.memes)
        ranked = [r for r in recommender.rank(job.text, top=job.top + gone) if r.meme_id in allowed][: job.top]
    return Ranking(tuple((r.meme_id, r.score) for r in ranked), s.catalog_version)


def register(s: Context, job: RegisterJob) -> Registered:
    source, notices = s.engine.make_source(decode_image(job.image, s.config.limits))
    crop = encode_image(source.crop, "jpeg", quality=92)
    return Registered(source.to_bytes(), crop, tuple(notices), s.engine.key)


def compose(s: Context, meme_id: str, source: SourceFace | None, target: str | int = "default") -> SwapOutcome | None:
    """The meme with the face swapped in; None when there is no face to use or none to replace."""
    meme = s.prepared.catalog.by_id[meme_id]
    faces = s.prepared.targets.get(meme_id, [])
    if source is None or not faces:
        return None
    chosen = [faces[i] for i in choose_targets(faces, target, meme.faces or None)]
    return s.engine.swap(meme_image(s, meme_id), chosen, s.engine.own_source(source))


def source_of(s: Context, record: bytes | None) -> tuple[SourceFace | None, Upgraded | None]:
    """The person's record as this worker's engine needs it: an older engine's is re-analysed from its crop, so
    nobody has to register again, and handed back (Upgraded) for the service to store."""
    if record is None:
        return None, None
    source = SourceFace.from_bytes(record)
    if source.engine_key == s.engine.key:
        return source, None
    upgraded = s.engine.own_source(source)
    return upgraded, Upgraded(upgraded.to_bytes(), s.engine.key)


def compose_one(s: Context, job: ComposeJob) -> Composed:
    """The meme as JPEG with the face swapped in (the original when there is no face). `subtitle`: the
    person's sentence, drawn as the 자막 instead of the meme's own."""
    sync_catalog(s, job.catalog)
    return composed_with(s, job.meme_id, *source_of(s, job.record), job.target, job.subtitle)


def composed_with(s: Context, meme_id: str, source: SourceFace | None, upgraded: Upgraded | None = None,
              target: str = "default", subtitle: str = "") -> Composed:
    outcome = compose(s, meme_id, source, target)
    faces, lines = s.prepared.targets.get(meme_id, []), subtitle_lines(s, meme_id, subtitle)
    if outcome is None:
        return Composed(_encode(s, meme_image(s, meme_id), faces, lines), False, (), upgraded)
    return Composed(_encode(s, outcome.image, faces, lines), bool(outcome.swapped), tuple(outcome.notices),
                    upgraded)


def make(s: Context, job: MakeJob) -> Made:
    """The ranking, then the best-ranked meme the person has not just seen for this sentence (all seen: start
    over), composed. A meme that takes the person's face stands in for a marginally better one that cannot (a head
    turned too far, say). `decide`: nothing is composed unless the ranking is sure (the person will choose, and
    only their pick is composed)."""
    ranking = rank(s, job.rank)
    if ranking.stale:
        return Made(ranking)
    decision = None
    if job.decide is not None:
        decision = confidence([score for _, score in ranking.memes[:CHOICES]], job.decide).decision
    if not ranking.memes or decision not in (None, Decision.ONE):
        return Made(ranking, decision=decision)
    fresh = [(m, score) for m, score in ranking.memes if m not in job.recent] or list(ranking.memes)
    source, upgraded = source_of(s, job.record)
    best, best_score = fresh[0]
    first: Composed | None = None
    for meme_id, score in fresh[: 1 + FIT_TRIES] if source else fresh[:1]:
        if score < best_score - FIT_MARGIN:
            break
        composed = composed_with(s, meme_id, source, upgraded, "default", job.subtitle)
        if composed.swapped:
            return Made(ranking, meme_id, composed, decision)
        first = first or composed
    return Made(ranking, best, first, decision)


def check(s: Context, job: CheckJob) -> CheckReport:
    """`fffusion catalog check` for the studio: the memes the recommender confuses, and those no example reaches."""
    sync_catalog(s, job.catalog)
    return check_catalog(s.prepared.recommender, job.too_close)


def inspect(s: Context, job: InspectJob) -> tuple[MemeFaces, ...]:
    sync_catalog(s, job.catalog)
    source = SourceFace.from_bytes(job.sample) if job.sample else None
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
    return tuple(out)
def swap_picture(s: Context, job: SwapPictureJob) -> PictureSwapped:
    """Pixels are checked from the header before the picture is decoded (core.images.decode_image)."""
    rgb = decode_image(job.image, s.config.limits)
    faces = s.engine.detect(rgb)
    if not faces:
        raise InputError("picture.no_face")
    chosen = [faces[i] for i in choose_targets(faces, job.target)]
    outcome = s.engine.swap(rgb, chosen, s.engine.own_source(SourceFace.from_bytes(job.record)))
    if not outcome.swapped:
        raise InputError("picture.no_face_fits", count=len(chosen))
    return PictureSwapped(_encode(s, outcome.image, faces), len(faces), len(outcome.swapped), outcome.notices)


def fill_order(catalog_faces: tuple[int, ...], found: int) -> list[int]:
    """The meme's faces in the order people fill them: the catalog's `faces` list, else the largest alone."""
    return [i for i in dict.fromkeys(catalog_faces) if 0 <= i < found] or ([0] if found else [])


def compose_group(s: Context, job: ComposeGroupJob) -> GroupComposed:
    sync_catalog(s, job.catalog)
    meme_id, records = job.meme_id, job.records
    meme = s.prepared.catalog.by_id[meme_id]
    faces = s.prepared.targets.get(meme_id, [])
    image = meme_image(s, meme_id)
    slots = fill_order(meme.faces, len(faces))
    placed: list[int] = []
    notices: list[str] = []
    for k, index in enumerate(slots[: len(records)]):
        outcome = s.engine.swap(image, [faces[index]], s.engine.own_source(SourceFace.from_bytes(records[k])))
        image = outcome.image
        if outcome.swapped:
            placed.append(k)
        notices.extend(outcome.notices)
    encoded = _encode(s, image, faces, subtitle_lines(s, meme_id, job.subtitle))
    return GroupComposed(encoded, len(slots), tuple(placed), tuple(dict.fromkeys(notices)))


_HANDLERS: dict[type[Job[Any]], Callable[[Context, Any], Any]] = {
    RankJob: rank, MakeJob: make, RegisterJob: register, ComposeJob: compose_one, InspectJob: inspect,
    CheckJob: check, SwapPictureJob: swap_picture, ComposeGroupJob: compose_group,
}
