"""The bot instance's side of the queue (core/compute/redis/__init__.py): `run(job)` enqueues a typed request and
waits for its answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from arq.connections import ArqRedis
from arq.constants import health_check_key_suffix, in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import deserialize_result, serialize_job
from arq.utils import timestamp_ms
from redis.exceptions import RedisError

from core.compute.client import OWNER
from core.compute.contract import Job
from core.compute.redis.common import (
    NEW_JOBS,
    OWNED,
    QUEUE,
    VOTES,
    VOTES_KEEP_S,
    WATCH_WORKERS_S,
    connect,
    done_channel,
    share_votes,
)
from core.errors import FffusionError, InputError, ServiceError
from core.limits import Limits
from core.service import catalogs

if TYPE_CHECKING:
    from core.recommend.feedback import Votes

log = logging.getLogger(__name__)
A = TypeVar("A")

#: how often a caller looks for its result without a "done" message: a last resort, since a lost channel wakes
#: every caller once it is back (at 0.5 s, each caller waiting in a long queue cost a round trip per half second)
FALLBACK_POLL_S = 2.0

class QueuePool:
    """The bot instance's side of the queue: `run(job)` enqueues the job request and waits for its answer."""

    def __init__(self, url: str, queue_length: int, job_timeout_s: float, *, tries: int = Limits.job_tries,
                 rerun_after_s: float = Limits.job_rerun_after_s, wait_margin_s: float = Limits.job_wait_margin_s
                 ) -> None:
        self.url = url
        self.queue_length = max(1, queue_length)
        self.job_timeout_s = job_timeout_s
        self.tries = max(1, tries)
        self.rerun_after_s = rerun_after_s
        self.wait_margin_s = wait_margin_s
        self.instance = secrets.token_hex(6)
        self._redis: ArqRedis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._served = False  # whether some worker process is alive (read every WATCH_WORKERS_S)
        self._reachable = False  # whether Redis answered that question
        self._waiting: dict[str, asyncio.Event] = {}
        self._closed = False
        self._votes_shared: tuple[str | None, float] = (None, 0.0)  # the generation shared last, and when
        self._catalog: Path | None = None  # the folder of the catalog this instance serves, shared with the workers
        #: (seconds from enqueue to result in hand, seconds the worker ran the job) of recent jobs: their
        #: difference is what the queue costs (bench/scale.py reports it)
        self.timings: deque[tuple[float, float]] = deque(maxlen=10_000)

    @property
    def redis(self) -> ArqRedis:
        if self._redis is None:
            raise RuntimeError("queue not started")
        return self._redis

    async def start(self) -> None:
        self._redis = await connect(self.url)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(done_channel(f"{self.instance}.x"))
        self._listener = asyncio.create_task(self._listen(pubsub), name="queue-results")
        self._served = await self._workers_alive()
        self._watcher = asyncio.create_task(self._watch_workers(), name="queue-workers")
        if self._catalog is not None:
            await self.share_catalog(self._catalog)

    async def share_catalog(self, folder: Path) -> None:
        """Serve the catalog in `folder` to the workers, which may be on machines without it (core/service/
        catalogs.py). Before start, and when Redis fails, it is shared later: at start, and whenever a worker
        finds the version missing."""
        self._catalog = folder
        if self._redis is None:
            return
        try:
            version = await catalogs.share(self._redis, folder)
        except (OSError, RedisError) as err:
            log.warning("queue: could not share the catalog with the workers yet: %s", err)
            return
        log.debug("queue: shared catalog version %s", version)

    async def share_votes(self, votes: Votes) -> None:
        """The votes where the workers find them when theirs are older (core.compute.redis.consumer hands them to
        a job answered `stale`): once per generation, and again when half their VOTES_KEEP_S has passed. While Redis
        fails they are not shared, and come with the job instead (core.compute.client.ComputeClient)."""
        now, (shared, when) = time.monotonic(), self._votes_shared
        if self._redis is None or (votes.generation == shared and now - when < VOTES_KEEP_S / 2):
            return
        try:
            await share_votes(self._redis, votes)
        except (OSError, RedisError) as err:
            log.warning("queue: could not share the votes with the workers: %s", err)
            return
        self._votes_shared = (votes.generation, now)

    async def forget_votes(self) -> None:
        """The votes any instance shared go (a deleted person's were among them; deletions are rare, so a scan):
        the next request shares its generation's anew."""
        shared = [key async for key in self.redis.scan_iter(VOTES + "*")]
        if shared:
            await self.redis.delete(*shared)
        self._votes_shared = (None, 0.0)

    async def _workers_alive(self) -> bool:
        """Whether some worker process has said it is alive within the last HEARTBEAT_S + 1 s (arq's health
        record, which expires then)."""
        try:
            alive = bool(await self.redis.exists(QUEUE + health_check_key_suffix))
        except (OSError, RedisError):
            self._reachable = False
            return False
        self._reachable = True
        return alive

    async def _watch_workers(self) -> None:
        while True:
            await asyncio.sleep(WATCH_WORKERS_S)
            served = await self._workers_alive()
            if served != self._served:
                (log.info if served else log.error)("queue: %s", "a worker is back" if served else "no worker is alive")
            self._served = served

    async def _listen(self, pubsub: Any) -> None:
        try:
            while True:
                try:
                    message = await pubsub.get_message(timeout=5.0)
                except (OSError, RedisError):
                    log.warning("queue: lost the result channel; reconnecting")
                    await asyncio.sleep(1)
                    with contextlib.suppress(OSError, RedisError):
                        await pubsub.subscribe(done_channel(f"{self.instance}.x"))
                        # results that came meanwhile were announced to nobody: every caller looks once now
                        for event in self._waiting.values():
                            event.set()
                    continue
                if message and message.get("type") == "message":
                    waiter = self._waiting.get(message["data"].decode())
                    if waiter is not None:
                        waiter.set()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    @property
    def deadline_s(self) -> float:
        """How long a caller waits at most for a job with the default settings."""
        return self.tries * (self.job_timeout_s + self.rerun_after_s) + self.wait_margin_s

    def deadline(self, job: Job[Any]) -> float:
        """How long a caller waits at most: every try may be lost and wait out its in-progress mark."""
        settings = job.settings
        return (settings.tries_or(self.tries) * (settings.timeout_or(self.job_timeout_s) + self.rerun_after_s)
                + self.wait_margin_s)

    async def run(self, job: Job[A]) -> A:
        """Run the job on some worker. ServiceError at once when the queue is full ('service.busy') or no worker
        process is alive ('service.unavailable': nobody would take the job before its deadline)."""
        if self._closed:
            raise ServiceError("service.stopping")
        if not self._served:
            raise ServiceError("service.unavailable")
        try:
            return await self._run(job)
        except ServiceError as err:
            if err.key != "catalog.not_shared" or self._catalog is None:
                raise
            # the worker could not find this instance's catalog version in Redis (expired, or Redis restarted)
            await self.share_catalog(self._catalog)
            return await self._run(job)

    async def _run(self, job: Job[A]) -> A:
        try:
            job_id = f"{self.instance}.{secrets.token_hex(8)}"
            done = self._waiting[job_id] = asyncio.Event()
            try:
                asked = asyncio.get_running_loop().time()
                await self._enqueue(job_id, job)
                answer: A = await self._result(job_id, done, asked, self.deadline(job))
                return answer
            finally:
                self._waiting.pop(job_id, None)
        except (OSError, RedisError) as err:
            log.error("queue: Redis failed during %s: %s", job.name, err)
            raise ServiceError("service.worker_died") from None

    async def _enqueue(self, job_id: str, job: Job[Any]) -> None:
        """Add the job as arq's enqueue_job does (its record, then its place in the queue) and nudge the workers,
        in one transaction: one round trip where arq takes three and the bound and the nudge two more. The queue's
        length is read in the same transaction, so the bound holds exactly; a job past it is taken out again."""
        now, deadline_ms = timestamp_ms(), round(self.deadline(job) * 1000)
        key = job_key_prefix + job_id
        owner = OWNER.get()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(QUEUE)
            pipe.psetex(key, deadline_ms, serialize_job(job.name, (job,), {}, None, now))
            pipe.zadd(QUEUE, {job_id: now})
            if owner is not None:  # listed for a deletion to find (the list lasts as long as its newest job)
                pipe.sadd(OWNED + owner, job_id)
                pipe.pexpire(OWNED + owner, deadline_ms)
            pipe.publish(NEW_JOBS, b"")
            waiting, *_ = await pipe.execute()
        if waiting >= self.queue_length:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(QUEUE, job_id)
                pipe.delete(key)
                await pipe.execute()
            raise ServiceError("service.busy")

    async def _result(self, job_id: str, done: asyncio.Event, asked: float, deadline_s: float) -> Any:
        loop = asyncio.get_running_loop()
        give_up = asked + deadline_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FALLBACK_POLL_S)
            done.clear()
            # read once: the result is read and deleted in one round trip, with whether the job is still there
            result = result_key_prefix + job_id
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.get(result)
                pipe.delete(result)
                pipe.exists(job_key_prefix + job_id)
                raw, _, queued = await pipe.execute()
            if raw is not None:
                info = deserialize_result(raw)
                break
            if loop.time() > give_up:
                log.error("queue: no result for %s after %.0f s", job_id, deadline_s)
                raise ServiceError("service.worker_died")
            if not queued:  # a job leaves with its result, or unstarted when its person was deleted (withdraw)
                raise InputError("person.deleted")
        self.timings.append((loop.time() - asked, (info.finish_time - info.start_time).total_seconds()))
        if info.success:
            return info.result
        if isinstance(info.result, FffusionError):
            raise info.result
        log.error("queue: job %s failed: %r", info.function, info.result)
        raise ServiceError("service.worker_died")

    async def withdraw(self, owner: str) -> None:
        """Take the owner's jobs that no worker has started out of the queue, their records (a face) with them,
        and wake their callers, on whichever instance: they end with "deleted". A job already running ends as it
        would; its caller reads (and so deletes) the result and writes nothing of a deleted person."""
        withdraw = self.redis.register_script(_WITHDRAW_JOBS)  # deletions are rare: no need to keep it
        withdrawn = await withdraw(keys=[OWNED + owner, QUEUE], args=[in_progress_key_prefix, job_key_prefix])
        if withdrawn:
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in (raw.decode() for raw in withdrawn):
                    pipe.publish(done_channel(job_id), job_id)
                await pipe.execute()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def healthy(self) -> bool:
        """Whether a job would be served: started, not closed, and some worker process (on any machine) alive;
        the health check answers 503 otherwise, as for the in-process pool."""
        return not self._closed and self._redis is not None and self._served

    @property
    def trouble(self) -> str | None:
        if self.healthy:
            return None
        if self._closed or self._redis is None:
            return "the queue is not running"
        return "no worker process is alive" if self._reachable else "Redis does not answer"

    async def close(self) -> None:
        self._closed = True
        for task in (self._listener, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None



_WITHDRAW_JOBS = """
local withdrawn = {}
for _, id in ipairs(redis.call('smembers', KEYS[1])) do
  if redis.call('exists', ARGV[1] .. id) == 0 and redis.call('zrem', KEYS[2], id) == 1 then
    redis.call('del', ARGV[2] .. id)
    withdrawn[#withdrawn + 1] = id
  end
end
redis.call('del', KEYS[1])
return withdrawn
"""
