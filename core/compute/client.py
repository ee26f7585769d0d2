"""The typed client of the worker jobs: the only caller of a pool. The service calls these methods and gets the
answers of core/compute/contract.py back; a pool runs one typed request and returns its typed answer."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

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
)
from core.recommend.confidence import Calibration

if TYPE_CHECKING:  # the votes' module loads numpy, which the bot side needs only once it learns
    from core.catalog.check import CheckReport
    from core.recommend.feedback import Learning, Votes

A = TypeVar("A")


class _Learned(Protocol):
    @property
    def stale(self) -> bool: ...  # the worker has learned other votes than the job's


S = TypeVar("S", bound=_Learned)

#: whose request the jobs started now serve ("<platform>:<user id>"; the service sets it for each request), so that a
#: deletion can take that person's waiting jobs, their face in them, out of a shared queue (Pool.withdraw)
OWNER: ContextVar[str | None] = ContextVar("owner", default=None)


def owner_of(platform: str, user_id: str) -> str:
    return f"{platform}:{user_id}"


class Pool(Protocol):
    """Where the jobs run: core.compute.local.WorkerPool in this process, or core.compute.redis.client.QueuePool
    on a Redis queue, run by `fffusion worker` processes on any machine."""

    async def start(self) -> None: ...
    async def run(self, job: Job[A]) -> A: ...
    async def close(self) -> None: ...
    async def share_catalog(self, folder: Path) -> None: ...  # the catalog served, for workers without the folder
    async def share_votes(self, votes: Votes) -> None: ...  # the votes asked for, for workers that learned others
    async def withdraw(self, owner: str) -> None: ...  # the owner's jobs that wait to be started are taken out
    async def forget_votes(self) -> None: ...  # the votes shared go (a deleted person's were among them)
    @property
    def healthy(self) -> bool: ...  # some worker can take a job
    @property
    def trouble(self) -> str | None: ...  # why not (the health check answers 503 with it), None when healthy


class ComputeClient:
    def __init__(self, pool: Pool, learning: Learning) -> None:
        self.pool = pool
        self.learning = learning
        #: the catalog version the service serves, sent with every job that reads the catalog: a worker that
        #: has prepared another one prepares this one first (core.compute.runtime.sync_catalog)
        self.catalog = ""

    async def rank(self, text: str, top: int) -> Ranking:
        """The best memes for a sentence, with what people taught the ranking."""
        return await self._learned(lambda generation, votes: RankJob(text, top, generation, votes, self.catalog))

    async def make(self, text: str, top: int, record: bytes | None, recent: tuple[str, ...], subtitle: str = "",
                   decide: Calibration | None = None, keep_s: int = 0) -> Made:
        """The ranking and the best fit among the memes not in `recent`, composed: one job (MakeJob)."""
        return await self._learned(lambda generation, votes: MakeJob(
            RankJob(text, top, generation, votes, self.catalog), record, recent, subtitle, decide, keep_s))

    async def _learned(self, job: Callable[[str | None, Votes | None], Job[S]]) -> S:
        """A ranking job with the current votes. They are shared with the pool (once per generation), and reach
        only a worker that has not learned them, without another trip through the queue: it answers `stale`, and
        its pool hands them over and runs the job again there (core.compute.contract.stale_generation)."""
        generation = await self.learning.generation()
        if generation is not None:
            await self.pool.share_votes(await self.learning.votes(generation))
        answer = await self.pool.run(job(generation, None))
        if answer.stale:  # the shared votes were lost meanwhile (Redis restarted, say): they come with the job
            answer = await self.pool.run(job(generation, await self.learning.votes(generation)))
        return answer

    async def register(self, image: bytes) -> Registered:
        return await self.pool.run(RegisterJob(image))

    async def compose(self, meme_id: str, record: bytes | None, target: str = "default", subtitle: str = "",
                      keep_s: int = 0) -> Composed:
        return await self.pool.run(ComposeJob(meme_id, record, target, self.catalog, subtitle, keep_s))

    async def inspect(self, sample: bytes | None) -> tuple[MemeFaces, ...]:
        """Every meme's faces and whether the sample face record swaps onto it (the studio's grid)."""
        return await self.pool.run(InspectJob(self.catalog, sample))

    async def check(self, too_close: float) -> CheckReport:
        """The catalog's confusable pairs and unreached memes (core/catalog/check.py)."""
        return await self.pool.run(CheckJob(self.catalog, too_close))

    async def swap_picture(self, image: bytes, record: bytes, target: str) -> PictureSwapped:
        return await self.pool.run(SwapPictureJob(image, record, target))

    async def compose_group(self, meme_id: str, records: tuple[bytes, ...], subtitle: str = "") -> GroupComposed:
        return await self.pool.run(ComposeGroupJob(meme_id, records, self.catalog, subtitle))
