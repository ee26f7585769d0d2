"""The typed client for the worker jobs: the service calls these methods and gets dataclasses back, never
`pool.run(fn, *args) -> Any` and tuples. The jobs stay pure functions of their arguments (core/service/worker.py),
so they can move to a distributed pool unchanged."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

from core.catalog.check import CheckReport
from core.recommend.feedback import Learning
from core.service.picture_jobs import GroupComposed, PictureSwapped, job_compose_group, job_swap_picture
from core.service.worker import (
    Composed,
    Made,
    MemeFaces,
    Ranked,
    Registered,
    job_check,
    job_compose,
    job_inspect,
    job_make,
    job_rank,
    job_register,
)

#: whose request the jobs started now serve ("<platform>:<user id>"; the service sets it for each request), so that a
#: deletion can take that person's waiting jobs, their face in them, out of a shared queue (Pool.withdraw)
OWNER: ContextVar[str | None] = ContextVar("owner", default=None)


def owner_of(platform: str, user_id: str) -> str:
    return f"{platform}:{user_id}"


class Pool(Protocol):
    """Where the jobs run: core.service.pool.WorkerPool in this process, or core.service.queue.QueuePool on a
    Redis queue, run by `fffusion worker` processes on any machine."""

    async def start(self) -> None: ...
    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    async def close(self) -> None: ...
    async def share_catalog(self, folder: Path) -> None: ...  # the catalog served, for workers without the folder
    async def withdraw(self, owner: str) -> None: ...  # the owner's jobs that wait to be started are taken out
    @property
    def healthy(self) -> bool: ...  # some worker can take a job
    @property
    def trouble(self) -> str | None: ...  # why not (the health check answers 503 with it), None when healthy


class Jobs:
    def __init__(self, pool: Pool, learning: Learning) -> None:
        self.pool = pool
        self.learning = learning
        #: the catalog version the service serves, sent with every job that reads the catalog: a worker that
        #: has prepared another one prepares this one first (core.service.worker.sync_catalog)
        self.catalog = ""

    async def rank(self, text: str, top: int) -> Ranked:
        """The best memes for a sentence, with what people taught the ranking."""
        ranked: Ranked = await self._learned(job_rank, text, top)
        return ranked

    async def make(self, text: str, top: int, record: bytes | None, recent: tuple[str, ...], subtitle: str = "",
                   decide: bool = False) -> Made:
        """The ranking and the best fit among the memes not in `recent`, composed: one job (worker.job_make).
        `subtitle`: the person's sentence as the 자막 ("" for the meme's own). `decide`: composed only when the
        ranking is sure of it (core.recommend.confidence), else a choice follows."""
        made: Made = await self._learned(job_make, text, top, record, recent, subtitle, decide)
        return made

    async def _learned(self, fn: Callable[..., Any], text: str, top: int, *rest: Any) -> Any:
        """A ranking job with the current votes. The votes travel only to a worker that has not learned them
        (it answers `stale` first)."""
        generation = await self.learning.generation()
        answer = await self.pool.run(fn, text, top, generation, None, self.catalog, *rest)
        if answer.stale:
            votes = await self.learning.votes(generation)
            answer = await self.pool.run(fn, text, top, generation, votes, self.catalog, *rest)
        return answer

    async def register(self, image: bytes) -> Registered:
        registered: Registered = await self.pool.run(job_register, image)
        return registered

    async def compose(self, meme_id: str, record: bytes | None, target: str = "default", subtitle: str = ""
                      ) -> Composed:
        composed: Composed = await self.pool.run(job_compose, meme_id, record, target, self.catalog, subtitle)
        return composed

    async def inspect(self, sample: bytes | None) -> list[MemeFaces]:
        """Every meme's faces and whether the sample face record swaps onto it (the studio's grid)."""
        faces: list[MemeFaces] = await self.pool.run(job_inspect, self.catalog, sample)
        return faces

    async def check(self, too_close: float) -> CheckReport:
        """The catalog's confusable pairs and unreached memes (core/catalog/check.py)."""
        report: CheckReport = await self.pool.run(job_check, self.catalog, too_close)
        return report

    async def swap_picture(self, image: bytes, record: bytes, target: str) -> PictureSwapped:
        swapped: PictureSwapped = await self.pool.run(job_swap_picture, image, record, target)
        return swapped

    async def compose_group(self, meme_id: str, records: tuple[bytes, ...], subtitle: str = "") -> GroupComposed:
        composed: GroupComposed = await self.pool.run(job_compose_group, meme_id, records, self.catalog, subtitle)
        return composed
