"""The CPU jobs (rank, register, compose) on a Redis-backed arq queue, for bot instances and `fffusion worker`
processes on any number of machines.

`QueuePool` is the bot side: the same `start` / `run(fn, *args)` / `close` as the in-process `WorkerPool`, so the
service does not know which one it has. `run_worker` is the worker side: worker processes, each with its models
loaded once and its own arq consumer, so a job goes from Redis straight to the process that runs it (a hop through
a local pool cost more CPU than the queue itself); a process that dies is replaced.

What arq gives, and what is set here:
- a job has a timeout (`job_timeout_s`); a job lost with a killed worker stays in the queue and runs again on
  another worker once its in-progress mark expires (`job_timeout_s` + `job_rerun_after_s`), `job_tries` runs in
  all (core/limits.py);
- while no worker process anywhere is alive (their heartbeats), a caller is refused at once rather than left to
  wait out its deadline;
- the queue is bounded: past `queue_length` waiting jobs a bot instance answers "busy" at once (the length is read
  in the transaction that adds the job, so the bound holds however many instances add at once);
- adding a job publishes a nudge that wakes the idle workers, and finishing one publishes its id on the asking
  instance's channel, so neither side waits for arq's polling interval; polling stays as the fallback when a
  message is missed (`queue_poll_s` on the workers, FALLBACK_POLL_S here), and a result channel that was lost
  and is back wakes every caller to look once;
- a worker claims jobs with one script (free jobs found and marked in progress at once) where arq takes five
  round trips per job; the rest of a job's life (its run, its result, its retries) is arq's own;
- a deleted person's jobs that no worker has started leave the queue with their face (`withdraw`), and their
  callers, on any instance, end at once with "deleted".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import secrets
import signal
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import health_check_key_suffix, in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import deserialize_result, serialize_job
from arq.utils import timestamp_ms
from arq.worker import Worker, func
from redis.exceptions import RedisError

from core.errors import ConfigError, FffusionError, InputError, ServiceError
from core.limits import Limits
from core.loop import run as run_loop
from core.messages import localized
from core.service import catalogs
from core.service.jobs import OWNER
from core.service.picture_jobs import job_compose_group, job_swap_picture
from core.service.pool import KILL_GRACE_S, die_with, failure
from core.service.worker import (
    WorkerConfig,
    follow_shared_catalogs,
    init_worker,
    job_check,
    job_compose,
    job_inspect,
    job_make,
    job_rank,
    job_register,
)

log = logging.getLogger(__name__)

QUEUE = "fffusion:jobs"
NEW_JOBS = "fffusion:new-jobs"  # the nudge channel
OWNED = "fffusion:owned:"  # + owner (core.service.jobs.OWNER): the ids of the jobs their requests added
JOBS: tuple[Callable[..., Any], ...] = (
    job_rank, job_make, job_register, job_compose, job_inspect, job_swap_picture, job_compose_group, job_check
)
RESULT_KEEP_S = 15  # the asking instance reads (and deletes) a result within milliseconds; the rest expire
#: how often a caller looks for its result without a "done" message: a last resort, since a lost channel wakes
#: every caller once it is back (at 0.5 s, each caller waiting in a long queue cost a round trip per half second)
FALLBACK_POLL_S = 2.0
HUNG_EXIT_S = 0.5  # after a job past its deadline, time for arq to store its failure before the process exits
HEARTBEAT_S = 2.0  # how often a worker process records that it is alive (arq's health record)
WATCH_WORKERS_S = 1.0  # how often a bot instance reads that record for its health check
SUPERVISE_S = 0.5  # how often `run_worker` looks for worker processes that ended
RECONNECT_S = 1.0  # how often a worker process that lost Redis tries to connect again


def _done_channel(job_id: str) -> str:
    """Job ids are `<instance>.<random>`: the instance that waits for the job listens on its own channel."""
    return f"fffusion:done:{job_id.split('.', 1)[0]}"


def redis_settings(url: str) -> RedisSettings:
    try:
        settings = RedisSettings.from_dsn(url)
    except (RuntimeError, ValueError):
        raise ConfigError("config.bad_value", name="FFFUSION_REDIS_URL", value=url.split("@")[-1],
                          expected=localized("config.expect.redis_url")) from None
    settings.conn_timeout = 5
    return settings


async def connect(url: str) -> ArqRedis:
    try:
        return await create_pool(redis_settings(url), default_queue_name=QUEUE, retry=2)
    except (OSError, RedisError) as err:
        raise ConfigError("redis.unreachable", url=url.split("@")[-1], reason=str(err) or type(err).__name__) from None


@dataclass(frozen=True)
class Packed:
    """A job's arguments as one object with a short repr: arq formats every job's arguments for its log line even
    when the line is not logged, and a face record's repr costs milliseconds per job."""

    args: tuple[Any, ...]

    def __repr__(self) -> str:
        return f"<{len(self.args)} arguments>"


def _without_arguments(data: dict[str, Any]) -> bytes:
    """A worker's serializer, which arq uses only for results: arq stores a job's arguments again beside its
    result, a face record (about 40 KB) each way more; the asking instance has them."""
    return pickle.dumps({**data, "a": ()}, protocol=pickle.HIGHEST_PROTOCOL)


class QueuePool:
    """The bot instance's side of the queue: `run(fn, *args)` enqueues the job and waits for its result."""

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
        await pubsub.subscribe(_done_channel(f"{self.instance}.x"))
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
                        await pubsub.subscribe(_done_channel(f"{self.instance}.x"))
                        # results that came meanwhile were announced to nobody: every caller looks once now
                        for event in self._waiting.values():
                            event.set()
                    continue
                if message and message.get("type") == "message":
                    event = self._waiting.get(message["data"].decode())
                    if event is not None:
                        event.set()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    @property
    def deadline_s(self) -> float:
        """How long a caller waits at most: every try may be lost and wait out its in-progress mark."""
        return self.tries * (self.job_timeout_s + self.rerun_after_s) + self.wait_margin_s

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) on some worker. ServiceError at once when the queue is full ('service.busy') or no worker
        process is alive ('service.unavailable': nobody would take the job before its deadline)."""
        if self._closed:
            raise ServiceError("service.stopping")
        if not self._served:
            raise ServiceError("service.unavailable")
        try:
            return await self._run(fn, args)
        except ServiceError as err:
            if err.key != "catalog.not_shared" or self._catalog is None:
                raise
            # the worker could not find this instance's catalog version in Redis (expired, or Redis restarted)
            await self.share_catalog(self._catalog)
            return await self._run(fn, args)

    async def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            job_id = f"{self.instance}.{secrets.token_hex(8)}"
            done = self._waiting[job_id] = asyncio.Event()
            try:
                asked = asyncio.get_running_loop().time()
                await self._enqueue(job_id, fn.__name__, Packed(args))
                return await self._result(job_id, done, asked)
            finally:
                self._waiting.pop(job_id, None)
        except (OSError, RedisError) as err:
            log.error("queue: Redis failed during %s: %s", fn.__name__, err)
            raise ServiceError("service.worker_died") from None

    async def _enqueue(self, job_id: str, function: str, packed: Packed) -> None:
        """Add the job as arq's enqueue_job does (its record, then its place in the queue) and nudge the workers,
        in one transaction: one round trip where arq takes three and the bound and the nudge two more. The queue's
        length is read in the same transaction, so the bound holds exactly; a job past it is taken out again."""
        now = timestamp_ms()
        key = job_key_prefix + job_id
        owner = OWNER.get()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(QUEUE)
            pipe.psetex(key, round(self.deadline_s * 1000), serialize_job(function, (packed,), {}, None, now))
            pipe.zadd(QUEUE, {job_id: now})
            if owner is not None:  # listed for a deletion to find (the list lasts as long as its newest job)
                pipe.sadd(OWNED + owner, job_id).pexpire(OWNED + owner, round(self.deadline_s * 1000))
            pipe.publish(NEW_JOBS, b"")
            waiting, *_ = await pipe.execute()
        if waiting >= self.queue_length:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.zrem(QUEUE, job_id).delete(key).execute()
            raise ServiceError("service.busy")

    async def _result(self, job_id: str, done: asyncio.Event, asked: float) -> Any:
        loop = asyncio.get_running_loop()
        give_up = asked + self.deadline_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FALLBACK_POLL_S)
            done.clear()
            # read once: the result is read and deleted in one round trip, with whether the job is still there
            result = result_key_prefix + job_id
            async with self.redis.pipeline(transaction=True) as pipe:
                raw, _, queued = await pipe.get(result).delete(result).exists(job_key_prefix + job_id).execute()
            if raw is not None:
                info = deserialize_result(raw)
                break
            if loop.time() > give_up:
                log.error("queue: no result for %s after %.0f s", job_id, self.deadline_s)
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
                    pipe.publish(_done_channel(job_id), job_id)
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


def _threaded(runner: ThreadPoolExecutor, fn: Callable[..., Any], job_timeout_s: float) -> Callable[..., Any]:
    """An arq job that runs fn in this process's one compute thread, so the event loop (arq's in-progress marks,
    the nudges) stays responsive. A job past its deadline cannot be stopped inside native code: it fails with
    the timeout message and the process exits once arq has stored that, to be replaced by `run_worker`."""

    async def job(ctx: dict[str, Any], packed: Packed) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(runner.submit(fn, *packed.args)), job_timeout_s)
        except TimeoutError:
            log.error("worker pid %s exceeded the %.0f s deadline in %s; exiting to be replaced",
                      os.getpid(), job_timeout_s, fn.__name__)
            asyncio.get_running_loop().call_later(HUNG_EXIT_S, os._exit, 70)
            raise ServiceError("service.timeout") from None
        except FffusionError:
            raise
        except Exception as err:
            raise failure(fn, err) from None

    job.__qualname__ = fn.__name__
    return job


#: claims the first ARGV[4] jobs due by ARGV[1] (ms) among the first ARGV[2] of the queue that carry no in-progress
#: mark (ARGV[3] + id): sets each one's mark (ARGV[5] ms, as arq does) and returns their ids and scores
_CLAIM_JOBS = """
local claimed = {}
local queued = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #queued, 2 do
  local mark = ARGV[3] .. queued[i]
  if redis.call('exists', mark) == 0 then
    redis.call('psetex', mark, ARGV[5], '1')
    claimed[#claimed + 1] = queued[i]
    claimed[#claimed + 1] = queued[i + 1]
    if #claimed >= 2 * tonumber(ARGV[4]) then break end
  end
end
return claimed
"""
#: takes the jobs listed in KEYS[1] that are still in the queue KEYS[2] and carry no in-progress mark (ARGV[1] + id)
#: out of it, their records (ARGV[2] + id) too, and the list; returns their ids. Atomic, like _CLAIM_JOBS: a job is
#: either claimed by a worker or withdrawn, never both
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
SCAN_JOBS = 1000  # how far into the queue a worker looks past the jobs being run (the queue is bounded far lower)


class NudgedWorker(Worker):
    """arq's worker, also woken at once by the nudge of a new job and by a job of its own finishing (a free slot),
    not only by its polling interval, and claiming jobs in one round trip."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wake = asyncio.Event()
        self._claim = self.pool.register_script(_CLAIM_JOBS)
        self._claiming = asyncio.Lock()  # the nudges and arq's polling loop both claim: one at a time

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._wake.set()

    async def claim(self, count: int) -> list[tuple[str, int]]:
        """Up to `count` due jobs that no worker has started, oldest first, each given its in-progress mark in the
        same script (ids and enqueue times)."""
        claimed = await self._claim(keys=[self.queue_name], args=[
            timestamp_ms(), SCAN_JOBS, in_progress_key_prefix, count, round(self.in_progress_timeout_s * 1000)
        ])
        return [(raw.decode(), int(score)) for raw, score in zip(claimed[::2], claimed[1::2], strict=True)]

    async def _poll_iteration(self) -> None:
        """arq's step (start jobs up to the free slots, forget finished ones, record the heartbeat) with the claim
        in one script: arq reads the queue's head, then checks and marks each job in four round trips (WATCH,
        EXISTS, ZSCORE, MULTI), and the jobs being run stay at the head until they end. The script finds free jobs
        and sets their in-progress marks atomically, so two workers never start one job."""
        async with self._claiming:
            free = self.max_jobs - self.job_counter
            if self.allow_pick_jobs and free > 0:
                for job_id, score in await self.claim(free):
                    await self.sem.acquire()  # free: the slots were counted under the lock
                    self.job_counter += 1
                    task = self.loop.create_task(self.run_job(job_id, score))
                    task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
                    self.tasks[job_id] = task
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()  # as arq: an error in run_job itself propagates
        await self.heart_beat()

    async def nudged(self) -> None:
        listener = asyncio.create_task(self._listen())
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self.allow_pick_jobs and self.job_counter < self.max_jobs:
                    await self._poll_iteration()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        pubsub = self.pool.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(NEW_JOBS)
        try:
            while True:
                try:
                    if await pubsub.get_message(timeout=5.0) is not None:
                        self._wake.set()
                except (OSError, RedisError):
                    await asyncio.sleep(1)  # polling covers the gap
                    with contextlib.suppress(OSError, RedisError):
                        await pubsub.subscribe(NEW_JOBS)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


async def _announce(ctx: dict[str, Any]) -> None:
    """After arq stored the result: tell the waiting instance."""
    job_id = ctx["job_id"]
    with contextlib.suppress(OSError, RedisError):
        await ctx["redis"].publish(_done_channel(job_id), job_id)


async def _consume(url: str, job_timeout_s: float, poll_s: float, limits: Limits) -> None:
    """One worker process's arq consumer, until SIGTERM: jobs still running then are run again elsewhere. A lost
    Redis ends only the consumer: it connects again while the process, with its models loaded, carries on."""
    logging.getLogger("arq").setLevel(max(logging.WARNING, log.getEffectiveLevel()))  # one line per job is noise
    runner = ThreadPoolExecutor(1, thread_name_prefix="compute")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    lost = False
    try:
        while not stop.is_set():
            try:
                await _consume_once(url, runner, job_timeout_s, poll_s, limits, stop)
                lost = False
            except (OSError, RedisError, ConfigError) as err:  # ConfigError: connect() found Redis unreachable
                if not lost:
                    log.warning("worker pid %s lost Redis (%s); connecting again every %.0f s without reloading "
                                "its models", os.getpid(), err, RECONNECT_S)
                lost = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_S)
    finally:
        runner.shutdown(wait=False, cancel_futures=True)


async def _consume_once(url: str, runner: ThreadPoolExecutor, job_timeout_s: float, poll_s: float, limits: Limits,
                        stop: asyncio.Event) -> None:
    """arq's consumer on one Redis connection, until `stop` or until the connection fails (raised)."""
    redis = await connect(url)
    tries = max(1, limits.job_tries)
    worker = NudgedWorker(
        functions=[func(_threaded(runner, fn, job_timeout_s), name=fn.__name__, max_tries=tries) for fn in JOBS],
        redis_pool=redis,
        queue_name=QUEUE,
        # one job waiting beside the running one hides the gap between two jobs without hoarding the queue
        max_jobs=2,
        job_timeout=job_timeout_s + HUNG_EXIT_S + 1,  # the job's own deadline (in _threaded) comes first
        keep_result=RESULT_KEEP_S,
        poll_delay=poll_s,
        max_tries=tries,
        health_check_interval=HEARTBEAT_S,
        after_job_end=_announce,
        job_serializer=_without_arguments,
        handle_signals=False,
        log_results=False,
    )
    worker.in_progress_timeout_s = job_timeout_s + limits.job_rerun_after_s  # arq's default adds 10 s
    running = asyncio.create_task(worker.async_run(), name="arq-worker")
    nudges = asyncio.create_task(worker.nudged(), name="arq-nudges")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # the worker ended by itself (Redis went away): say why
    finally:
        stopping.cancel()
        nudges.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await nudges
        worker.handle_sig(signal.SIGTERM)  # running jobs are cancelled: arq runs them again elsewhere
        with contextlib.suppress(asyncio.CancelledError, OSError, RedisError):
            await running
        if stop.is_set():
            await worker.close()  # takes the heartbeat away at once
        else:  # Redis is gone: nothing to tell it; only the connections go
            with contextlib.suppress(OSError, RedisError):
                await redis.aclose()


def _process(parent: int, level: int, config: WorkerConfig, url: str, job_timeout_s: float, poll_s: float,
             started: Connection) -> None:
    """A worker process: load the models, say so (or why not), then consume the queue."""
    die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the parent stops this one
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        init_worker(config)
    except FffusionError as err:
        started.send(err)
        return
    follow_shared_catalogs(catalogs.SharedCatalogs(url, config.cache_dir))
    started.send(os.getpid())
    started.close()
    run_loop(_consume(url, job_timeout_s, poll_s, config.limits))


async def run_worker(
    config: WorkerConfig,
    url: str,
    processes: int,
    job_timeout_s: float,
    poll_s: float,
    stop: asyncio.Event,
    ready: Callable[[list[int]], None] | None = None,
) -> None:
    """`fffusion worker`: `processes` worker processes, each with its models loaded once and its own arq consumer
    (a job goes straight from Redis to the process that runs it), kept running until `stop`: one that dies (a
    crash, the OOM killer, a job past its deadline) is replaced, and the job it held runs again elsewhere."""
    await (await connect(url)).aclose()  # fail fast on a bad URL, before the models load
    context = multiprocessing.get_context("spawn")  # forking a process with threads and an event loop is unsafe
    level = log.getEffectiveLevel()

    async def launch() -> BaseProcess:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_process, name="fffusion-worker", daemon=True,
                                  args=(os.getpid(), level, config, url, job_timeout_s, poll_s, send))
        process.start()
        send.close()
        try:
            said = await asyncio.get_running_loop().run_in_executor(None, _hear, receive, process)
        finally:
            receive.close()
        if isinstance(said, FffusionError):
            raise said
        return process

    first = await launch()  # alone: it fills the shared caches the others then read
    children = [first, *await asyncio.gather(*(launch() for _ in range(processes - 1)))]
    try:
        if ready is not None:
            ready([p.pid or 0 for p in children])
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SUPERVISE_S)
            for slot, process in enumerate(children):
                if not process.is_alive() and not stop.is_set():
                    log.error("worker process %s ended (exit code %s); replacing it", process.pid, process.exitcode)
                    try:
                        children[slot] = await launch()
                    except FffusionError as err:  # tried again on the next round
                        log.error("replacement worker process failed to start: %s", err)
    finally:
        for process in children:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + KILL_GRACE_S
        for process in children:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def _hear(receive: Connection, process: BaseProcess) -> int | FffusionError:
    """What a starting worker process says: its pid once its models are loaded, or the error that stopped it."""
    while not receive.poll(0.5):
        if not process.is_alive():
            return ServiceError("service.worker_died")
    try:
        return receive.recv()
    except EOFError:
        return ServiceError("service.worker_died")
