"""The CPU jobs (rank, register, compose) on a Redis-backed arq queue, for bot instances and `fffusion worker`
processes on any number of machines.

`QueuePool` is the bot side: the same `start` / `run(fn, *args)` / `close` as the in-process `WorkerPool`, so the
service does not know which one it has. `run_worker` is the worker side: an arq worker whose jobs go to a local
`WorkerPool` (models loaded once per process, a process that dies is replaced).

What arq gives, and what is set here:
- a job has a timeout (`job_timeout_s`); a job lost with a killed worker stays in the queue and runs again on
  another worker once its in-progress mark expires (`job_timeout_s` + 2 s), at most once (`TRIES`);
- the queue is bounded: past `queue_length` waiting jobs a bot instance answers "busy" at once (the bound is read
  before the job is added, so instances racing at the edge may pass it by a few);
- adding a job publishes a nudge that wakes the idle workers, and finishing one publishes its id on the asking
  instance's channel, so neither side waits for arq's polling interval; polling stays as the fallback when a
  message is missed (`queue_poll_s` on the workers, FALLBACK_POLL_S here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections import deque
from collections.abc import Callable
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job
from arq.worker import Worker, func
from redis.exceptions import RedisError

from core.errors import ConfigError, FffusionError, ServiceError
from core.service.picture_jobs import job_compose_group, job_swap_picture
from core.service.pool import WorkerPool
from core.service.worker import WorkerConfig, init_worker, job_compose, job_inspect, job_rank, job_register

log = logging.getLogger(__name__)

QUEUE = "fffusion:jobs"
NEW_JOBS = "fffusion:new-jobs"  # the nudge channel
JOBS: tuple[Callable[..., Any], ...] = (
    job_rank, job_register, job_compose, job_inspect, job_swap_picture, job_compose_group
)
TRIES = 2  # a job lost with its worker runs once more, elsewhere
RESULT_KEEP_S = 15  # the asking instance reads (and deletes) a result within milliseconds; the rest expire
FALLBACK_POLL_S = 0.5  # result polling when no "done" message came
IN_PROGRESS_EXTRA_S = 2.0  # how long after its timeout a lost job's mark expires and the job can run again


def _done_channel(job_id: str) -> str:
    """Job ids are `<instance>.<random>`: the instance that waits for the job listens on its own channel."""
    return f"fffusion:done:{job_id.split('.', 1)[0]}"


def redis_settings(url: str) -> RedisSettings:
    try:
        settings = RedisSettings.from_dsn(url)
    except (RuntimeError, ValueError):
        raise ConfigError("config.bad_value", name="FFFUSION_REDIS_URL", value=url.split("@")[-1]) from None
    settings.conn_timeout = 5
    return settings


async def connect(url: str) -> ArqRedis:
    try:
        return await create_pool(redis_settings(url), default_queue_name=QUEUE, retry=2)
    except (OSError, RedisError) as err:
        raise ConfigError("redis.unreachable", url=url.split("@")[-1], reason=str(err) or type(err).__name__) from None


class QueuePool:
    """The bot instance's side of the queue: `run(fn, *args)` enqueues the job and waits for its result."""

    def __init__(self, url: str, queue_length: int, job_timeout_s: float) -> None:
        self.url = url
        self.queue_length = max(1, queue_length)
        self.job_timeout_s = job_timeout_s
        self.instance = secrets.token_hex(6)
        self._redis: ArqRedis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Event] = {}
        self._closed = False
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

    async def _listen(self, pubsub: Any) -> None:
        try:
            while True:
                try:
                    message = await pubsub.get_message(timeout=5.0)
                except (OSError, RedisError):
                    log.warning("queue: lost the result channel; polling until it is back")
                    await asyncio.sleep(1)
                    with contextlib.suppress(OSError, RedisError):
                        await pubsub.subscribe(_done_channel(f"{self.instance}.x"))
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
        return TRIES * (self.job_timeout_s + IN_PROGRESS_EXTRA_S) + 5

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) on some worker. ServiceError('service.busy') at once when the queue is full."""
        if self._closed:
            raise ServiceError("service.stopping")
        try:
            if await self.redis.zcard(QUEUE) >= self.queue_length:
                raise ServiceError("service.busy")
            job_id = f"{self.instance}.{secrets.token_hex(8)}"
            done = self._waiting[job_id] = asyncio.Event()
            try:
                asked = asyncio.get_running_loop().time()
                job = await self.redis.enqueue_job(fn.__name__, *args, _job_id=job_id, _expires=self.deadline_s)
                assert job is not None  # the id is new, so arq always enqueues it
                await self.redis.publish(NEW_JOBS, b"")
                return await self._result(job, done, asked)
            finally:
                self._waiting.pop(job_id, None)
        except (OSError, RedisError) as err:
            log.error("queue: Redis failed during %s: %s", fn.__name__, err)
            raise ServiceError("service.worker_died") from None

    async def _result(self, job: Job, done: asyncio.Event, asked: float) -> Any:
        loop = asyncio.get_running_loop()
        give_up = asked + self.deadline_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FALLBACK_POLL_S)
            done.clear()
            info = await job.result_info()
            if info is not None:
                break
            if loop.time() > give_up:
                log.error("queue: no result for %s after %.0f s", job.job_id, self.deadline_s)
                raise ServiceError("service.worker_died")
        self.timings.append((loop.time() - asked, (info.finish_time - info.start_time).total_seconds()))
        # read once: the result (and the arguments arq keeps with it, a face record perhaps) goes at once
        await self.redis.delete(f"arq:result:{job.job_id}")
        if info.success:
            return info.result
        if isinstance(info.result, FffusionError):
            raise info.result
        log.error("queue: job %s failed: %r", info.function, info.result)
        raise ServiceError("service.worker_died")

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def healthy(self) -> bool:
        """Whether jobs can be queued (started, not closed): the workers are other processes, on any machine,
        which a queue serves as soon as one of them is up."""
        return not self._closed and self._redis is not None

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def _arq_job(pool: WorkerPool, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def job(ctx: dict[str, Any], *args: Any) -> Any:
        return await pool.run(fn, *args)

    job.__qualname__ = fn.__name__
    return job


class NudgedWorker(Worker):
    """arq's worker, also woken at once by the nudge of a new job and by a job of its own finishing (a free slot),
    not only by its polling interval."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wake = asyncio.Event()

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._wake.set()

    async def nudged(self) -> None:
        listener = asyncio.create_task(self._listen())
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self.allow_pick_jobs and self.job_counter < self.max_jobs:
                    # arq's own step: its in-progress mark (WATCH/MULTI) keeps a job from starting twice
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


async def run_worker(
    config: WorkerConfig,
    url: str,
    processes: int,
    job_timeout_s: float,
    poll_s: float,
    stop: asyncio.Event,
    ready: Callable[[WorkerPool], None] | None = None,
) -> None:
    """`fffusion worker`: load the models in `processes` worker processes, then run queue jobs until `stop`.
    Jobs still running then are cancelled and run again on another worker."""
    redis = await connect(url)  # fail fast on a bad URL, before the models load
    logging.getLogger("arq").setLevel(max(logging.WARNING, log.getEffectiveLevel()))  # one line per job is noise
    pool = WorkerPool(processes, processes, init_worker, (config,), job_timeout_s=job_timeout_s)
    await pool.start()
    worker = NudgedWorker(
        functions=[func(_arq_job(pool, fn), name=fn.__name__, max_tries=TRIES) for fn in JOBS],
        redis_pool=redis,
        queue_name=QUEUE,
        # One job waiting beside each running one hides the polling gap without hoarding the queue.
        max_jobs=processes + 1,
        job_timeout=job_timeout_s,
        keep_result=RESULT_KEEP_S,
        poll_delay=poll_s,
        max_tries=TRIES,
        after_job_end=_announce,
        handle_signals=False,
        log_results=False,
    )
    worker.in_progress_timeout_s = job_timeout_s + IN_PROGRESS_EXTRA_S  # arq's default adds 10 s
    running = asyncio.create_task(worker.async_run(), name="arq-worker")
    nudges = asyncio.create_task(worker.nudged(), name="arq-nudges")
    if ready is not None:
        ready(pool)
    try:
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if running.done():
            running.result()  # the worker ended by itself: say why
    finally:
        nudges.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await nudges
        worker.handle_sig(signal.SIGTERM)  # running jobs are cancelled: arq runs them again elsewhere
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await worker.close()
        await pool.close()
