"""The one small async API every platform adapter calls. Everything that is the same on every chat
platform lives here: faces, meme requests, "다른 짤", limits, results cache and storage."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import time
import unicodedata
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.bounded import Bounded, Locks
from core.catalog.catalog import CATALOG_FILE, Catalog, load_catalog
from core.catalog.check import CheckReport
from core.catalog.edit import catalog_version
from core.compute.client import OWNER, ComputeClient, Pool, owner_of
from core.compute.contract import Composed, MemeFaces, WorkerConfig, meme_result_key, result_key
from core.compute.local import Runtime, WorkerPool
from core.errors import Failure, FffusionError, InputError, ServiceError, failure_of
from core.images import check_size
from core.limits import Limits
from core.recommend.confidence import CHOICES, Calibration, Decision
from core.recommend.feedback import KEEP_VOTE, NEXT_VOTE, PICK_VOTE, FeedbackSettings, Learning
from core.service.store import PeopleStore, PersonGone, Store, StoredFace, StoredRequest
from core.text import clean_sentence, subtitle_request

log = logging.getLogger(__name__)

DEFAULT_FACE = "기본"
CANDIDATES = 10  # ranked memes kept per request for "다른 짤"
#: the id of a request that asked for its own sentence as the 자막 starts with this (never in a token_urlsafe id),
#: so "다른 짤" keeps the sentence on the next meme too, with nothing more stored
OWN_SUBTITLE = "s."
HISTORY = 50  # memes remembered per person so the same sentence brings a fresh one


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
    result_key: str  # the crop's, like a meme's: a platform's upload of it is forgotten with the person


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


@dataclass(frozen=True)
class Offered:
    """One meme of a choice: shown as it is (the person's face goes in only once they pick it)."""

    meme_id: str
    caption: str
    image: bytes  # the meme's own picture, JPEG
    result_key: str
    index: int  # its place in the request's candidates: what a pick names


@dataclass(frozen=True)
class Offer:
    """A choice of memes for a request, when the ranking is unsure (`Decision.CHOICE`), no meme fits
    (`Decision.NOTHING`: these are the nearest), or the person asked to choose."""

    request_id: str
    decision: Decision
    memes: tuple[Offered, ...]
    has_next: bool


class RateLimiter:
    """Sliding one-minute window per person, in memory: a person's window goes a minute after their last hit,
    and past `people` windows the least recently active person's goes first."""

    def __init__(self, per_minute: int, people: int = Limits.people_in_memory) -> None:
        self.per_minute = per_minute
        self._hits: Bounded[tuple[str, str], deque[float]] = Bounded(people, ttl_s=60)

    async def check(self, person: Person) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        key = (person.platform, person.user_id)
        hits = self._hits.get(key) or deque()
        while hits and now - hits[0] > 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            raise ServiceError("service.rate_limited", seconds=int(60 - (now - hits[0])) + 1)
        hits.append(now)
        self._hits.put(key, hits)  # kept a minute from now

    async def forget(self, person: Person) -> None:
        self._hits.pop((person.platform, person.user_id))

    async def take_back(self, person: Person) -> None:
        hits = self._hits.get((person.platform, person.user_id))
        if hits:
            hits.pop()


class Deletions:
    """Whether a person was deleted since some work began, in bounded memory. Work notes the moment it begins
    (`now`: a count of deletions); a deletion records its moment for the person. Only the newest `limit`
    deletions are kept by person: when an older one goes, the floor rises to its moment, and anyone not kept
    counts as deleted at the floor. So work that began before the floor ends as if its person was deleted (it
    would take `limit` deletions during one request), and a deletion is never forgotten in a way that lets work
    that began before it write."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._moment = 0
        self._floor = 0
        self._last: dict[tuple[str, str], int] = {}  # oldest first

    def __len__(self) -> int:
        return len(self._last)

    @property
    def now(self) -> int:
        return self._moment

    def delete(self, key: tuple[str, str]) -> None:
        self._moment += 1
        self._last.pop(key, None)
        self._last[key] = self._moment
        while len(self._last) > self.limit:
            self._floor = self._last.pop(next(iter(self._last)))

    def since(self, key: tuple[str, str], began: int) -> bool:
        return self._last.get(key, self._floor) > began


class ResultCache:
    """Finished images by result key, in memory, bounded in bytes (least recently used out first)."""

    keep_s = 0  # workers answer with the image: only this process keeps it

    def __init__(self, max_bytes: int) -> None:
        self._items: Bounded[str, Composed] = Bounded(max_bytes, lambda c: len(c.image))

    async def get(self, key: str) -> Composed | None:
        return self._items.get(key)

    async def put(self, key: str, item: Composed) -> None:
        self._items.put(key, item)

    async def drop(self, keys: list[str]) -> None:
        for key in keys:
            self._items.pop(key)


class Limiter(Protocol):
    """RateLimiter in memory, or core.service.shared.RedisRateLimiter shared by several instances."""

    async def check(self, person: Person) -> None: ...
    async def take_back(self, person: Person) -> None: ...  # the newest hit, of work that was not served
    async def forget(self, person: Person) -> None: ...


class Pending(Protocol):
    """What a person was asked to send next in a chat (Telegram's "/setface", then the photo), for
    `Limits.reply_wait_s`: PendingReplies in memory, or core.service.shared.RedisPending shared by instances (the
    next message may reach another one)."""

    async def put(self, person: Person, chat: str, value: str) -> None: ...
    async def pop(self, person: Person, chat: str) -> str | None: ...
    async def forget(self, person: Person) -> None: ...


class PendingReplies:
    def __init__(self, ttl_s: float, limit: int = 10_000) -> None:
        self._items: Bounded[tuple[str, str, str], str] = Bounded(limit, ttl_s=ttl_s)

    async def put(self, person: Person, chat: str, value: str) -> None:
        self._items.put((person.platform, person.user_id, chat), value)

    async def pop(self, person: Person, chat: str) -> str | None:
        return self._items.pop((person.platform, person.user_id, chat))

    async def forget(self, person: Person) -> None:
        self._items.drop(lambda key: key[:2] == (person.platform, person.user_id))


class Results(Protocol):
    """ResultCache in memory, or core.service.shared.RedisResultCache shared by several instances."""

    @property
    def keep_s(self) -> int: ...  # how long a worker on the queue keeps a result here itself (0: it does not)
    async def get(self, key: str) -> Composed | None: ...
    async def put(self, key: str, item: Composed) -> None: ...
    async def drop(self, keys: list[str]) -> None: ...


class PersonGuard:
    """The one per-person guard of every use case (memes, faces, friends, pictures): the rate-limit hit of a
    piece of work, the moment it began, and the person's lock for its writes, so a deletion wins over
    everything in flight for that person."""

    def __init__(self, rate: Limiter, people: int) -> None:
        self.rate = rate
        self._deletions = Deletions(people)
        # One registration or deletion at a time per person, so they never interleave.
        self._locks: Locks[tuple[str, str]] = Locks()

    @contextlib.asynccontextmanager
    async def counted(self, person: Person) -> AsyncIterator[None]:
        """One rate-limit hit for the work inside, taken back when the queue was full or no worker was alive: a
        message that waits out a busy queue (the Kakao skill retries it) counts once, when it is finally served.
        The jobs started inside are the person's (a deletion withdraws those still waiting)."""
        await self.rate.check(person)
        owner = OWNER.set(owner_of(person.platform, person.user_id))
        try:
            yield
        except ServiceError as err:
            if failure_of(err) is Failure.BUSY:
                await self.rate.take_back(person)
            raise
        finally:
            OWNER.reset(owner)

    def moment(self) -> int:
        """The moment work begins, for `writing` to tell whether its person was deleted since."""
        return self._deletions.now

    def deleted_since(self, person: Person, moment: int) -> bool:
        return self._deletions.since((person.platform, person.user_id), moment)

    @contextlib.asynccontextmanager
    async def writing(self, person: Person, moment: int) -> AsyncIterator[None]:
        """Hold the person's lock for writes of work that began at `moment`; if the person was deleted since,
        nothing is written and the work ends with a message. A deletion waits for a write in progress and then
        removes it with the rest, so nothing of a deleted person is written after the deletion."""
        async with self._locks.hold((person.platform, person.user_id)):
            if self.deleted_since(person, moment):
                raise InputError("person.deleted")
            try:
                yield
            except PersonGone:  # deleted through another instance: the database refused the write
                raise InputError("person.deleted") from None

    @contextlib.asynccontextmanager
    async def deleting(self, person: Person) -> AsyncIterator[None]:
        """The person's lock for their deletion: work in flight from now on writes nothing."""
        async with self._locks.hold((person.platform, person.user_id)):
            self._deletions.delete((person.platform, person.user_id))
            yield


def text_key(text: str) -> str:
    """Sentences that differ only in case, spacing or width count as the same request."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def own_subtitle(request: StoredRequest) -> str:
    """The sentence to draw as the 자막 of a request's memes ("" for each meme's own)."""
    return request.text_key if request.id.startswith(OWN_SUBTITLE) else ""


class MemeService:
    def __init__(
        self,
        worker: WorkerConfig,
        data_dir: Path,
        workers: int = 0,
        results_cache_mb: int = 64,
        pool: Pool | None = None,
        feedback: FeedbackSettings | None = None,
        store: PeopleStore | None = None,
        rate: Limiter | None = None,
        results: Results | None = None,
        pending: Pending | None = None,
    ) -> None:
        self.store: PeopleStore = store or Store(Path(data_dir) / "fffusion.sqlite3")
        self.pending: Pending = pending or PendingReplies(worker.limits.reply_wait_s)
        self.config = worker
        self.limits: Limits = worker.limits
        size = workers or (len(os.sched_getaffinity(0)) or 1)
        #: the one who makes a pool starts and closes it: the in-process pool made here is this service's; one
        #: passed in (the Redis queue, a test's shared pool) is its maker's
        self._own_pool = pool is None
        self.pool: Pool = pool or WorkerPool(size, self.limits.queue_length, Runtime(self.config),
                                             job_timeout_s=self.limits.job_timeout_s)
        #: learning from use: the votes, and when the workers relearn them
        self.learning = Learning(self.store, feedback or FeedbackSettings())
        self.jobs = ComputeClient(self.pool, self.learning)
        #: when a sentence gets one meme, a choice or "nothing fits" (the workers compose with the default's)
        self.calibration = Calibration()
        self.guard = PersonGuard(rate or RateLimiter(self.limits.rate_per_minute, self.limits.people_in_memory),
                                 self.limits.people_in_memory)
        self._results: Results = results or ResultCache(results_cache_mb * 1024 * 1024)
        self._catalog: Catalog | None = None
        self._catalog_stamp: tuple[int, int, int] | None = None  # catalog.toml's stat when last looked at
        self._catalog_lock = asyncio.Lock()
        #: called with the (platform, file id) uploads of a deleted person's results, e.g. to delete
        #: media files served by URL; a platform that can delete its copies registers here
        self.forget_uploads: list[Callable[[list[tuple[str, str]]], Awaitable[None]]] = []

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            raise RuntimeError("service not started")
        return self._catalog

    @property
    def catalog_version(self) -> str:
        """The version of the catalog served (core.catalog.edit.catalog_version), sent with every job."""
        return self.jobs.catalog

    async def start(self) -> None:
        await self.reload_catalog()
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

    # the catalog
    def _stamp(self) -> tuple[int, int, int]:
        st = os.stat(Path(self.config.catalog_dir) / CATALOG_FILE)
        return st.st_mtime_ns, st.st_size, st.st_ino

    async def reload_catalog(self) -> None:
        """Serve the catalog as it is on disk now; the workers re-prepare it with their next job (only what
        changed is embedded or searched). A catalog that does not load raises and the old one stays."""
        async with self._catalog_lock:
            self._catalog_stamp = self._stamp()  # a bad file is reported once, not on every request
            version = catalog_version(self.config.catalog_dir)
            if version != self.jobs.catalog:
                reloaded = self._catalog is not None
                self._catalog = await asyncio.to_thread(load_catalog, self.config.catalog_dir)
                await self.pool.share_catalog(self.config.catalog_dir)
                self.jobs.catalog = version
                log.log(logging.INFO if reloaded else logging.DEBUG, "serving catalog version %s (%d memes)",
                        version, len(self._catalog.memes))

    async def follow_catalog(self) -> None:
        """Pick up a catalog edited on disk (by hand, by the studio in another process): one stat a request."""
        try:
            if self._stamp() != self._catalog_stamp:
                await self.reload_catalog()
        except (OSError, FffusionError) as err:
            log.warning("the catalog changed on disk but cannot be served; keeping the previous one: %s", err)

    async def rank(self, text: str, top: int) -> list[tuple[str, str, float]]:
        """(meme id, caption, score) of the best memes for a sentence, for people who build the catalog."""
        sentence = clean_sentence(text, self.limits)
        await self.follow_catalog()
        ranked = (await self.jobs.rank(sentence, top)).memes
        return [(m, self.catalog.by_id[m].caption, score) for m, score in ranked]

    async def inspect_catalog(self, sample_photo: bytes | None) -> tuple[str, list[MemeFaces]]:
        """The catalog version and every meme's faces, with whether the face in `sample_photo` swaps in."""
        await self.follow_catalog()
        record = (await self.jobs.register(sample_photo)).record if sample_photo else None
        version = self.catalog_version
        return version, list(await self.jobs.inspect(record))

    async def health(self) -> list[str]:
        """What keeps this instance from serving a request now (empty: nothing): the workers (and the queue's
        Redis, which also holds the rate limits and the results cache), and the store."""
        problems = [self.pool.trouble] if self.pool.trouble else []
        try:
            await asyncio.wait_for(self.store.schema_version(), self.limits.health_timeout_s)
        except Exception as err:  # whatever the driver raises for a database that is down, hung or refusing
            problems.append(f"the database does not answer ({type(err).__name__})")
        return problems

    async def check_catalog(self) -> CheckReport:
        """What the catalog's curator should rewrite: confusable pairs and memes no example reaches."""
        await self.follow_catalog()
        return await self.jobs.check(self.limits.confusable_similarity)

    async def stale_people(self, platform: str, older_than_s: float) -> list[str]:
        """User ids of the platform's people whose newest face (or, without one, whose first visit) is older
        than this: a platform whose people are anonymous visitors deletes them after a while."""
        return await self.store.stale_people(platform, time.time() - older_than_s)

    # faces
    async def register_face(self, person: Person, image: bytes, name: str | None = None) -> FaceRegistration:
        name = " ".join((name or DEFAULT_FACE).split())[:32] or DEFAULT_FACE
        check_size(len(image), self.limits)
        async with self.guard.counted(person), self.guard.writing(person, self.guard.moment()):
            person_id = await self.store.ensure_person(person.platform, person.user_id)
            names = await self.store.face_names(person_id)
            if name not in names and len(names) >= self.limits.max_faces_per_person:
                raise InputError("face.too_many", limit=self.limits.max_faces_per_person,
                                 names=", ".join(names))
            face = await self.jobs.register(image)
            is_default = not names or name == DEFAULT_FACE or await self.store.default_face(person_id) == name
            stored = StoredFace(name, face.engine, face.record, face.crop_jpeg)
            await self.store.save_face(person_id, stored, make_default=is_default)
            crop_key = result_key(face.record, "face-crop", name)
            await self.store.add_result(crop_key, person_id, f"face:{name}")
        return FaceRegistration(name, face.crop_jpeg, face.notices, is_default, crop_key)

    async def list_faces(self, person: Person) -> list[str]:
        person_id = await self.store.find_person(person.platform, person.user_id)
        return await self.store.face_names(person_id) if person_id is not None else []

    async def default_face(self, person: Person) -> str | None:
        """The name of the face their memes carry unless they name another (None: no face, or none chosen)."""
        person_id = await self.store.find_person(person.platform, person.user_id)
        return await self.store.default_face(person_id) if person_id is not None else None

    async def delete_person(self, person: Person) -> bool:
        async with self.guard.deleting(person):  # work in flight now writes nothing
            await self.pool.withdraw(owner_of(person.platform, person.user_id))  # waiting jobs carry their face
            person_id = await self.store.find_person(person.platform, person.user_id)
            if person_id is None:
                return False
            keys, uploads = await self.store.delete_person(person.platform, person.user_id)
            self.learning.forget()  # their votes: not handed out again from memory, nor left shared with the workers
            await self.pool.forget_votes()
            await self._results.drop(keys)
            await self.guard.rate.forget(person)
            for forget in self.forget_uploads:
                try:
                    await forget(uploads)
                except Exception:
                    log.exception("forgetting the uploads of a deleted person failed")
            return True

    async def stamp(self, person: Person) -> str | None:
        """Changes whenever what the person's memes carry may have: they were deleted (on any instance; also when
        they came back since) or saved a new default face. A platform that keeps answers of its own for a while
        keys them by it, so none outlives a deletion anywhere. Read it before the work whose answer it keys."""
        return await self.store.stamp(person.platform, person.user_id)

    async def last_request(self, person: Person) -> str | None:
        """The id of the person's request shown last (a bare "다른 짤" continues it)."""
        person_id = await self.store.find_person(person.platform, person.user_id)
        return await self.store.last_request(person_id) if person_id is not None else None

    async def set_lang(self, person: Person) -> None:
        await self.store.set_lang(await self.store.ensure_person(person.platform, person.user_id), person.lang)

    # "내 문장으로 자막" per chat
    async def set_chat_subtitle(self, person: Person, chat_id: str | None, on: bool) -> None:
        """Every meme asked in the chat carries the asker's own sentence as its 자막 (on) or the meme's (off).
        A group chat or server is `chat_id`; None is the person's private chat (Kakao, the web page, a direct
        message): that setting is theirs and is deleted with them."""
        if chat_id is not None:
            await self.store.set_chat_subtitle(f"{person.platform}:{chat_id}", on, None)
            return
        if not on and await self.store.find_person(person.platform, person.user_id) is None:
            return  # off is the default: no row for a newcomer who switched nothing on
        async with self.guard.writing(person, self.guard.moment()):
            person_id = await self.store.ensure_person(person.platform, person.user_id)
            await self.store.set_chat_subtitle(f"person:{person_id}", on, person_id)

    async def chat_subtitle(self, person: Person, chat_id: str | None) -> bool:
        """Whether the chat (as in set_chat_subtitle) asked for the sentence as every meme's 자막."""
        if chat_id is not None:
            return await self.store.chat_subtitle(f"{person.platform}:{chat_id}")
        person_id = await self.store.find_person(person.platform, person.user_id)
        return person_id is not None and await self.store.chat_subtitle(f"person:{person_id}")

    async def face_record(self, person_id: int, face: str | None) -> bytes | None:
        """The record of the person's named face, or of their default one (None: they have none)."""
        stored = await self.store.face(person_id, face)  # None: the default face, in the same query
        if stored is None and face:
            raise InputError("face.unknown_name", name=face)
        return stored.record if stored is not None else None

    # memes
    async def _composed(self, record: bytes | None, meme_id: str, person: Person, generation: int,
                        made: Composed | None = None, subtitle: str = "") -> tuple[str, Composed]:
        """The meme composed with the record (and `subtitle`, the person's sentence as its 자막): `made` when a
        job already did it, else from the results cache or a compose job. A worker on the queue puts what it
        composes in the shared results cache itself (`made.kept`): its bytes are read from there."""
        key = meme_result_key(record, meme_id, "default", self.catalog_version, subtitle)
        if made is None:
            cached = await self._results.get(key)
            if cached is not None:
                return key, cached
            made = await self.jobs.compose(meme_id, record, "default", subtitle, self._results.keep_s)
        if made.kept is not None:
            key = made.kept.key  # named by the catalog version the job was sent with
            if self.guard.deleted_since(person, generation):  # a deleted person's face is not left in the cache
                await self._results.drop([key])
                raise InputError("person.deleted")
            cached = await self._results.get(key)
            if cached is not None:
                return key, dataclasses.replace(made, image=cached.image, kept=None)
            # gone within its lifetime (Redis evicted it, or restarted): composed again, bytes in the answer
            made = await self.jobs.compose(meme_id, record, "default", subtitle)
        if not self.guard.deleted_since(person, generation):  # a deleted person's face is not cached again
            await self._results.put(key, dataclasses.replace(made, upgraded=None))
        return key, made

    async def _result(self, person: Person, generation: int, person_id: int, request: StoredRequest,
                      record: bytes | None, meme_id: str, made: Composed | None = None, save: bool = True,
                      vote: int | None = KEEP_VOTE) -> MemeResult:
        """The result for one meme of the request, recorded in the person's history with the request (unless
        `save` is false: it is saved already) with its `vote` for learning from use (a meme sent counts as kept
        until "다른 짤" replaces the vote), or, if they were deleted meanwhile, nothing recorded or returned."""
        key, composed = await self._composed(record, meme_id, person, generation, made, own_subtitle(request))
        try:
            async with self.guard.writing(person, generation):
                if record is not None and composed.upgraded is not None:  # an older engine's record, re-analysed
                    await self.store.upgrade_face(person_id, record, composed.upgraded.record, composed.upgraded.engine)
                await self.store.shown(person_id, request.text_key, meme_id, key, person_id if record else None,
                                       HISTORY, request if save else None)
                if vote is not None and self.learning.enabled:
                    await self.learning.vote(person_id, request.text_key, meme_id, vote)
        except InputError:
            # deleted meanwhile: their face's result may have been cached just before (a deletion through another
            # instance could not see it), so it goes now
            await self._results.drop([key])
            raise
        notice = None
        if record is None:
            notice = "face.not_registered"
        elif not composed.swapped:
            notice = composed.notices[0] if composed.notices else "meme.no_swappable_face"
        return MemeResult(
            request_id=request.id,
            meme_id=meme_id,
            caption=self.catalog.by_id[meme_id].caption,
            image=composed.image,
            result_key=key,
            swapped=composed.swapped,
            notice=notice,
            rank=request.candidates.index(meme_id),
            has_next=len(request.shown) < len(request.candidates),
        )

    async def _asking(self, person: Person, sentence: str, face: str | None
                      ) -> tuple[str, int | None, bytes | None, frozenset[str]]:
        """What a ranking of the clean sentence needs to know of the asker, writing nothing (a newcomer's row
        comes with the first write): the sentence's key, their id, the face record, and the memes they have just
        seen for it."""
        key = text_key(sentence)
        asker = await self.store.asker(person.platform, person.user_id, face, key)
        if face and (asker is None or asker.record is None):  # an unknown face name fails before any work
            raise InputError("face.unknown_name", name=face)
        await self.follow_catalog()
        if asker is None:
            return key, None, None, frozenset()
        return key, asker.person, asker.record, asker.recent

    async def _writer(self, person: Person, generation: int, known: int | None) -> int:
        """The id to write a request under: the one the work began with (if their row went meanwhile, the writes
        are refused rather than made under a new row for a deleted person), or a newcomer's new row."""
        if known is not None:
            return known
        async with self.guard.writing(person, generation):
            return await self.store.ensure_person(person.platform, person.user_id)

    async def make_meme(self, person: Person, text: str, face: str | None = None, subtitle: bool = False
                        ) -> MemeResult:
        """The best meme for the sentence, however sure the ranking is; `subtitle` (or the word "--자막" in it):
        the sentence itself as its 자막 instead of the meme's own."""
        made = await self._make(person, text, face, subtitle, decide=False)
        assert isinstance(made, MemeResult)
        return made

    async def answer(self, person: Person, text: str, face: str | None = None, subtitle: bool = False
                     ) -> MemeResult | Offer:
        """What a sentence gets in a chat: its meme when the ranking is sure of it, else a choice of memes."""
        return await self._make(person, text, face, subtitle, decide=True)

    async def _make(self, person: Person, text: str, face: str | None, subtitle: bool, decide: bool
                    ) -> MemeResult | Offer:
        text, flagged = subtitle_request(text)
        sentence = clean_sentence(text, self.limits)  # before the rate limit: bad text costs no hit
        generation = self.guard.moment()
        async with self.guard.counted(person):
            key, known, record, recent = await self._asking(person, sentence, face)
            own = key if subtitle or flagged else ""  # as stored, so "다른 짤" draws the same words
            # the worker decides, once, on the catalog it ranked on (only memes this instance serves: a worker
            # behind on the catalog ranks those of the version asked for)
            made = await self.jobs.make(sentence, CANDIDATES, record, tuple(sorted(recent)), own,
                                        self.calibration if decide else None, self._results.keep_s)
            ranked = made.ranking.memes
            request_id = (OWN_SUBTITLE if own else "") + secrets.token_urlsafe(12)
            sure = made.decision
            if sure is not None and sure is not Decision.ONE:
                fresh = [m for m, _ in ranked if m not in recent] or [m for m, _ in ranked]
                request = StoredRequest(request_id, key, face, tuple(m for m, _ in ranked), tuple(fresh[:CHOICES]))
                person_id = await self._writer(person, generation, known)
                async with self.guard.writing(person, generation):
                    await self.store.save_request(person_id, request)
                return await self._offer(person, generation, request, request.shown, sure)
            if not ranked:  # every meme would mock a hurt sentence
                raise InputError("meme.nothing_fits_none")
            chosen, composed = made.meme_id, made.composed
            request = StoredRequest(request_id, key, face, tuple(m for m, _ in ranked), (chosen,))
            person_id = await self._writer(person, generation, known)
            return await self._result(person, generation, person_id, request, record, chosen, composed)

    async def _offer(self, person: Person, generation: int, request: StoredRequest, memes: tuple[str, ...],
                     decision: Decision) -> Offer:
        """The memes as they are (cached after the first time), for the person to pick from."""
        composed = await asyncio.gather(*(self._composed(None, m, person, generation) for m in memes))
        for m, (key, _) in zip(memes, composed, strict=True):  # no one's face: a platform's copy may stay
            await self.store.add_result(key, None, m)
        offered = tuple(Offered(m, self.catalog.by_id[m].caption, made.image, key, request.candidates.index(m))
                        for m, (key, made) in zip(memes, composed, strict=True))
        return Offer(request.id, decision, offered, len(request.shown) < len(request.candidates))

    async def _request(self, person: Person, request_id: str) -> tuple[int, StoredRequest]:
        person_id = await self.store.find_person(person.platform, person.user_id)
        request = await self.store.request(person_id, request_id) if person_id is not None else None
        if person_id is None or request is None:
            raise InputError("meme.request_unknown")
        await self.follow_catalog()
        return person_id, request

    def _remaining(self, request: StoredRequest) -> list[str]:
        """The request's candidates not shown yet (a meme deleted from the catalog since is skipped)."""
        remaining = [m for m in request.candidates if m not in request.shown and m in self.catalog.by_id]
        if not remaining:
            raise InputError("meme.no_more")
        return remaining

    async def choices(self, person: Person, request_id: str) -> Offer:
        """A choice of the request's next memes, asked for by the person: "골라보기" on a meme, or "다른 짤" on a
        choice. No vote: asking to choose says nothing against the meme shown."""
        generation = self.guard.moment()
        async with self.guard.counted(person):
            person_id, request = await self._request(person, request_id)
            remaining = self._remaining(request)
            request = dataclasses.replace(request, shown=(*request.shown, *remaining[:CHOICES]))
            async with self.guard.writing(person, generation):
                await self.store.save_request(person_id, request)
            return await self._offer(person, generation, request, tuple(remaining[:CHOICES]), Decision.CHOICE)

    async def pick(self, person: Person, request_id: str, index: int) -> MemeResult:
        """The meme the person picked from a choice, with their face. The pick is one vote for the meme, however
        often it is tapped (one vote per person, sentence and meme)."""
        generation = self.guard.moment()
        async with self.guard.counted(person):
            person_id, request = await self._request(person, request_id)
            meme_id = request.candidates[index] if 0 <= index < len(request.candidates) else None
            if meme_id is None or meme_id not in request.shown:
                raise InputError("meme.request_unknown")
            if meme_id not in self.catalog.by_id:
                raise InputError("meme.no_more")
            # the pick is what the request shows now: "다른 짤" after it skips the pick, not the last meme offered
            request = dataclasses.replace(request, shown=(*(m for m in request.shown if m != meme_id), meme_id))
            record = await self.face_record(person_id, request.face)
            return await self._result(person, generation, person_id, request, record, meme_id, vote=PICK_VOTE)

    async def next_meme(self, person: Person, request_id: str) -> MemeResult:
        """'다른 짤': the next candidate of a request. The one vote of the press is recorded here."""
        generation = self.guard.moment()
        async with self.guard.counted(person):
            person_id, request = await self._request(person, request_id)
            remaining = self._remaining(request)
            # saved before the work: a second press meanwhile (a double tap) goes on to the meme after this one
            async with self.guard.writing(person, generation):
                if self.learning.enabled:  # the shown one fitted worse than hoped
                    await self.learning.vote(person_id, request.text_key, request.shown[-1], NEXT_VOTE)
                request = dataclasses.replace(request, shown=(*request.shown, remaining[0]))
                await self.store.save_request(person_id, request)
            record = await self.face_record(person_id, request.face)
            return await self._result(person, generation, person_id, request, record, remaining[0], save=False)

    async def top(self, person: Person, text: str, k: int) -> list[MemeResult]:
        """The top k memes for a sentence, each with the person's face (inline mode): one rate-limit hit, one
        ranking, no votes. "--자막" in the sentence draws it on each of them."""
        text, own = subtitle_request(text)
        sentence = clean_sentence(text, self.limits)
        generation = self.guard.moment()
        async with self.guard.counted(person):
            key, known, record, recent = await self._asking(person, sentence, None)
            ranked = (await self.jobs.rank(sentence, CANDIDATES)).memes
            candidates = tuple(m for m, _ in ranked)
            shown = tuple(m for m in candidates if m not in recent)[:k] or candidates[:k]
            request_id = (OWN_SUBTITLE if own else "") + secrets.token_urlsafe(12)
            request = StoredRequest(request_id, key, None, candidates, shown)
            person_id = await self._writer(person, generation, known)
            async with self.guard.writing(person, generation):
                await self.store.save_request(person_id, request)
            return list(await asyncio.gather(
                *(self._result(person, generation, person_id, request, record, m, save=False, vote=None)
                  for m in shown)))
