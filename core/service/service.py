"""The one small async API every platform adapter calls. Everything that is the same on every chat
platform lives here: faces, meme requests, "다른 짤", limits, results cache and storage."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
import time
import unicodedata
from collections import OrderedDict, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from core.catalog.catalog import Catalog, load_catalog
from core.errors import InputError, ServiceError
from core.images import check_size
from core.limits import Limits
from core.service.pool import WorkerPool
from core.service.store import Store, StoredFace, StoredRequest
from core.service.worker import WorkerConfig, init_worker, job_rank, job_register, job_render
from core.text import clean_sentence

log = logging.getLogger(__name__)

DEFAULT_FACE = "기본"
CANDIDATES = 10  # ranked memes kept per request for "다른 짤"
HISTORY = 50  # memes remembered per person so the same sentence brings a fresh one
# A meme that takes the person's face may stand in for a better-ranked one that cannot, when its score is
# within FIT_MARGIN of the best; at most FIT_TRIES such stand-ins are tried.
FIT_MARGIN = 0.03
FIT_TRIES = 2


@dataclass(frozen=True)
class Person:
    platform: str
    user_id: str
    lang: str = "ko"


@dataclass(frozen=True)
class FaceRegistration:
    name: str
    crop_jpeg: bytes
    notices: tuple[str, ...]
    is_default: bool


@dataclass(frozen=True)
class MemeResult:
    request_id: str
    meme_id: str
    caption: str
    image: bytes
    result_key: str
    swapped: bool
    notice: str | None
    rank: int
    has_next: bool


class RateLimiter:
    """Sliding one-minute window per person, in memory."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)

    def check(self, person: Person) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        hits = self._hits[(person.platform, person.user_id)]
        while hits and now - hits[0] > 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            raise ServiceError("service.rate_limited", seconds=int(60 - (now - hits[0])) + 1)
        hits.append(now)


Rendered = tuple[bytes, bool, tuple[str, ...]]  # JPEG, swapped, notices


class ResultCache:
    """Finished images by result key, bounded in bytes (least recently used goes first)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Rendered] = OrderedDict()
        self._size = 0

    def get(self, key: str) -> Rendered | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: str, item: Rendered) -> None:
        self.drop([key])
        self._items[key] = item
        self._size += len(item[0])
        while self._size > self.max_bytes and self._items:
            _, old = self._items.popitem(last=False)
            self._size -= len(old[0])

    def drop(self, keys: list[str]) -> None:
        for key in keys:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old[0])


def _text_key(text: str) -> str:
    """Sentences that differ only in case, spacing or width count as the same request."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def _result_key(record: bytes | None, meme_id: str, target: str) -> str:
    face = hashlib.sha256(record).hexdigest() if record else "original"
    return hashlib.sha256(f"{face}\0{meme_id}\0{target}".encode()).hexdigest()[:32]


class MemeService:
    def __init__(
        self,
        worker: WorkerConfig,
        data_dir: Path,
        workers: int = 0,
        results_cache_mb: int = 64,
        pool: WorkerPool | None = None,
        learn_from_use: bool = True,
        feedback_refresh_s: float = 30.0,
    ) -> None:
        self.store = Store(Path(data_dir) / "fffusion.sqlite3")
        # Workers read the votes from the store's file; without learning they never look.
        self.config = dataclasses.replace(worker, feedback_db=self.store.path if learn_from_use else None)
        self.limits: Limits = worker.limits
        size = workers or (len(__import__("os").sched_getaffinity(0)) or 1)
        self._own_pool = pool is None
        self.pool = pool or WorkerPool(size, self.limits.queue_length, init_worker, (self.config,),
                                      job_timeout_s=self.limits.job_timeout_s)
        self._rate = RateLimiter(self.limits.rate_per_minute)
        self._results = ResultCache(results_cache_mb * 1024 * 1024)
        self._catalog: Catalog | None = None
        # Votes recorded, and the count last announced to the workers (at most every feedback_refresh_s)
        self._votes = 0
        self._announced = (0, -float("inf"))
        self.feedback_refresh_s = feedback_refresh_s
        #: called with the (platform, file id) uploads of a deleted person's results, e.g. to delete
        #: media files served by URL; a platform that can delete its copies registers here
        self.forget_uploads: list[Callable[[list[tuple[str, str]]], Awaitable[None]]] = []
        # One registration or deletion at a time per person, so they never interleave.
        self._person_locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            raise RuntimeError("service not started")
        return self._catalog

    async def start(self) -> None:
        self._catalog = load_catalog(self.config.catalog_dir)
        await self.store.open()
        if self._own_pool:
            try:
                await self.pool.start()
            except BaseException:
                await self.store.close()  # its thread would keep the process alive
                raise

    async def close(self) -> None:
        if self._own_pool:
            await self.pool.close()
        await self.store.close()

    # faces
    async def register_face(self, person: Person, image: bytes, name: str | None = None) -> FaceRegistration:
        name = " ".join((name or DEFAULT_FACE).split())[:32] or DEFAULT_FACE
        check_size(len(image), self.limits)
        self._rate.check(person)
        async with self._person_locks[(person.platform, person.user_id)]:
            pid = await self.store.person(person.platform, person.user_id)
            names = await self.store.face_names(pid)
            if name not in names and len(names) >= self.limits.max_faces_per_person:
                raise InputError("face.too_many", limit=self.limits.max_faces_per_person, names=", ".join(names))
            record, crop, notices, engine = await self.pool.run(job_register, image)
            is_default = not names or name == DEFAULT_FACE or await self.store.default_face(pid) == name
            await self.store.save_face(pid, StoredFace(name, engine, record, crop), make_default=is_default)
        return FaceRegistration(name, crop, notices, is_default)

    async def list_faces(self, person: Person) -> list[str]:
        pid = await self.store.find_person(person.platform, person.user_id)
        return await self.store.face_names(pid) if pid is not None else []

    async def delete_person(self, person: Person) -> bool:
        async with self._person_locks[(person.platform, person.user_id)]:
            pid = await self.store.find_person(person.platform, person.user_id)
            if pid is None:
                return False
            keys, uploads = await self.store.delete_person(person.platform, person.user_id)
            self._results.drop(keys)
            for forget in self.forget_uploads:
                try:
                    await forget(uploads)
                except Exception:
                    log.exception("forgetting the uploads of a deleted person failed")
            return True

    async def set_lang(self, person: Person) -> None:
        await self.store.set_lang(await self.store.person(person.platform, person.user_id), person.lang)

    async def _face_record(self, pid: int, face: str | None) -> bytes | None:
        name = face or await self.store.default_face(pid)
        if name is None:
            if face:
                raise InputError("face.unknown_name", name=face)
            return None
        stored = await self.store.face(pid, name)
        if stored is None:
            if face:
                raise InputError("face.unknown_name", name=face)
            return None
        return stored.record

    # memes
    async def _rendered(self, record: bytes | None, meme_id: str) -> tuple[str, Rendered]:
        key = _result_key(record, meme_id, "default")
        cached = self._results.get(key)
        if cached is None:
            cached = await self.pool.run(job_render, meme_id, record, "default")
            self._results.put(key, cached)
        return key, cached

    async def _result(self, pid: int, request: StoredRequest, record: bytes | None) -> MemeResult:
        """The result for the request's last shown meme, recorded in the person's history."""
        meme_id = request.shown[-1]
        key, (image, swapped, notices) = await self._rendered(record, meme_id)
        await self.store.add_result(key, pid if record else None, meme_id)
        await self.store.add_history(pid, request.text, meme_id, HISTORY)
        notice = None
        if record is None:
            notice = "face.not_registered"
        elif not swapped:
            notice = notices[0] if notices else "meme.no_swappable_face"
        return MemeResult(
            request_id=request.id,
            meme_id=meme_id,
            caption=self.catalog.by_id[meme_id].caption,
            image=image,
            result_key=key,
            swapped=swapped,
            notice=notice,
            rank=request.candidates.index(meme_id),
            has_next=len(request.shown) < len(request.candidates),
        )

    async def _best_fit(self, record: bytes | None, options: list[tuple[str, float]]) -> str:
        """The best-ranked meme, unless its faces cannot take this person's (a head turned too far, say) and
        a nearly as fitting one can: a meme with their face beats a marginally better one without."""
        best, best_score = options[0]
        if record is None:
            return best
        for meme_id, score in options[: 1 + FIT_TRIES]:
            if score < best_score - FIT_MARGIN:
                break
            if (await self._rendered(record, meme_id))[1][1]:
                return meme_id
        return best

    async def make_meme(self, person: Person, text: str, face: str | None = None) -> MemeResult:
        sentence = clean_sentence(text, self.limits)
        self._rate.check(person)
        pid = await self.store.person(person.platform, person.user_id)
        record = await self._face_record(pid, face)  # an unknown face name fails before any work
        ranked = await self.pool.run(job_rank, sentence, CANDIDATES, self._feedback_generation())
        text_key = _text_key(sentence)
        recent = await self.store.recent_memes(pid, text_key)
        fresh = [(m, score) for m, score in ranked if m not in recent] or ranked  # all seen: start over
        chosen = await self._best_fit(record, fresh)
        candidates = tuple(m for m, _ in ranked)
        request = StoredRequest(secrets.token_urlsafe(12), text_key, face, candidates, (chosen,))
        await self.store.save_request(pid, request)
        return await self._result(pid, request, record)

    async def next_meme(self, person: Person, request_id: str) -> MemeResult:
        self._rate.check(person)
        pid = await self.store.find_person(person.platform, person.user_id)
        request = await self.store.request(pid, request_id) if pid is not None else None
        if request is None:
            raise InputError("meme.request_unknown")
        remaining = [m for m in request.candidates if m not in request.shown]
        if not remaining:
            raise InputError("meme.no_more")
        await self._vote(pid, request, kept=False)  # "다른 짤": the shown one fitted worse than hoped
        request = dataclasses.replace(request, shown=(*request.shown, remaining[0]))
        await self.store.save_request(pid, request)
        return await self._result(pid, request, await self._face_record(pid, request.face))

    async def candidates(self, person: Person, text: str, k: int) -> list[MemeResult]:
        """The top k memes for a sentence, each with the person's face (inline mode)."""
        first = await self.make_meme(person, text)
        results = [first]
        while len(results) < k and results[-1].has_next:
            results.append(await self.next_meme(person, first.request_id))
        return results

    def _feedback_generation(self) -> int:
        """Changes when there are new votes for the workers to learn, at most every feedback_refresh_s."""
        announced, when = self._announced
        if self._votes != announced and time.monotonic() - when >= self.feedback_refresh_s:
            self._announced = (self._votes, time.monotonic())
        return self._announced[0]

    async def _vote(self, pid: int, request: StoredRequest, kept: bool) -> None:
        await self.store.vote(pid, request.text, request.shown[-1], 1 if kept else -1)
        self._votes += 1

    async def feedback(self, person: Person, request_id: str, kept: bool) -> None:
        """The person kept or shared (True) or skipped (False) the meme last shown for a request."""
        pid = await self.store.find_person(person.platform, person.user_id)
        request = await self.store.request(pid, request_id) if pid is not None else None
        if request is not None and request.shown:
            await self._vote(pid, request, kept)

    # platform upload ids
    async def remember_upload(self, platform: str, result_key: str, file_id: str) -> None:
        await self.store.remember_upload(platform, result_key, file_id)

    async def uploaded(self, platform: str, result_key: str) -> str | None:
        return await self.store.uploaded(platform, result_key)
