"""The job queue on a real redis-server: its bound (with `queue_length` jobs waiting and no worker, the next caller
hears "busy" at once instead of waiting), workers claiming jobs at the same moment, a worker's job deadline, a
result channel lost while a job waits, the health check's view of the workers, and a deleted person's waiting
jobs taken out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from arq.constants import health_check_key_suffix, in_progress_key_prefix, job_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker, func

from bot.app import running_service
from bot.config import Settings
from core.compute.contract import Composed, Job, Kept, Made, RankJob, Registered, RegisterJob, WorkerConfig
from core.compute.local import WorkerPool
from core.compute.redis import client as queue_client
from core.compute.redis import results
from core.compute.redis.arq_private import NudgedWorker
from core.compute.redis.client import QueuePool
from core.compute.redis.common import HEARTBEAT_S, QUEUE, VOTES, WATCH_WORKERS_S, connect
from core.compute.redis.supervisor import run_worker
from core.errors import InputError, ServiceError
from core.messages import render
from core.service.service import MemeService, Person
from core.service.store import StoredFace
from tests.conftest import postgres_database
from tests.servers import PostgresServer, RedisServer, start_redis

A = TypeVar("A")


async def test_a_full_queue_answers_busy_at_once(redis_server: RedisServer) -> None:
    """A worker says it is alive but takes no job: of ten jobs added at once to a queue of two, exactly two wait and
    eight are refused at once, leaving nothing of theirs in Redis (the length is read in the transaction that adds a
    job)."""
    pool = QueuePool(redis_server.url, queue_length=2, job_timeout_s=1)
    redis = await connect(redis_server.url)
    await redis.set(QUEUE + health_check_key_suffix, b"a worker that takes nothing", px=60_000)
    await pool.start()
    try:
        await pool.redis.delete(QUEUE)
        start = time.monotonic()
        burst = [asyncio.create_task(pool.run(RankJob("배고파", 3, None))) for _ in range(10)]
        done, waiting = await asyncio.wait(burst, timeout=1.0)
        assert time.monotonic() - start < 1.5 and len(done) == 8 and len(waiting) == 2
        assert all(isinstance(t.exception(), ServiceError) and t.exception().key == "service.busy" for t in done)
        assert await pool.redis.zcard(QUEUE) == 2
        assert len(await pool.redis.keys(job_key_prefix + "*")) == 2
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        await pool.redis.delete(QUEUE, QUEUE + health_check_key_suffix)
        await pool.close()
        await redis.aclose()


async def test_two_workers_claiming_at_once_never_take_the_same_job(redis_server: RedisServer) -> None:
    """Claiming finds free jobs and marks them in progress in one step: workers asking at the same moment split
    the due jobs between them, skip one another's and jobs not yet due, and leave arq's mark on each."""
    redis = await connect(redis_server.url)
    workers = [NudgedWorker(functions=[func(_unused, name="unused")], redis_pool=redis, queue_name=QUEUE,
                            handle_signals=False) for _ in range(2)]
    for worker in workers:
        worker.in_progress_timeout_s = 30
    try:
        now = timestamp_ms()
        await redis.delete(QUEUE)
        await redis.zadd(QUEUE, {f"due{n}": now - 100 + n for n in range(6)} | {"later": now + 60_000})
        await redis.psetex(in_progress_key_prefix + "due0", 30_000, b"1")  # started elsewhere
        first = await asyncio.gather(*(worker.claim(3) for worker in workers))
        claimed = sorted(job for jobs in first for job, _ in jobs)
        assert claimed == [f"due{n}" for n in range(1, 6)]  # each once; due0 runs elsewhere, "later" is not due
        assert sorted(len(jobs) for jobs in first) == [2, 3]
        assert all(score == now - 100 + int(job[3:]) for jobs in first for job, score in jobs)
        assert await asyncio.gather(*(worker.claim(3) for worker in workers)) == [[], []]  # nothing left
        for n in range(1, 6):
            assert 28_000 < await redis.pttl(in_progress_key_prefix + f"due{n}") <= 30_000
        assert not await redis.exists(in_progress_key_prefix + "later")
    finally:
        await redis.delete(QUEUE, *(in_progress_key_prefix + f"due{n}" for n in range(6)))
        await redis.aclose()


async def _unused(ctx: dict) -> None:
    """arq wants a function to build a worker; claiming runs none."""


async def test_a_job_past_its_deadline_fails_and_its_worker_process_is_replaced(
    redis_server: RedisServer, worker_config: WorkerConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A job cannot be stopped inside native code: it fails with the timeout message at once, and the worker
    process that ran it exits and is replaced (a deadline of 1 ms: every real job outlives it)."""
    async with _worker_and_pool(redis_server, worker_config, 0.001) as (pool, pids):
        with pytest.raises(ServiceError) as caught:
            await asyncio.wait_for(pool.run(RankJob("배고파", 3, None)), 5)
        assert caught.value.key == "service.timeout"
        for _ in range(600):
            if any("replacing it" in r.getMessage() for r in caplog.records) and not _alive(pids[0]):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the worker process that ran past its deadline was not replaced")


async def test_a_result_announced_while_the_channel_was_lost_is_read_once_it_is_back(
    redis_server: RedisServer, worker_config: WorkerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instance's result channel is cut while its job waits; the job ends and is announced to nobody. When the
    channel is back, every caller looks for its result: the answer comes then, not at the next fallback poll (made
    30 s here)."""
    monkeypatch.setattr(queue_client, "FALLBACK_POLL_S", 30.0)
    async with _worker_and_pool(redis_server, worker_config, 10) as (pool, pids):
        assert (await pool.run(RankJob("배고파", 3, None))).memes
        os.kill(pids[0], signal.SIGSTOP)  # the job waits until the channel is cut
        try:
            waiting = asyncio.create_task(pool.run(RankJob("배고파", 3, None)))
            await asyncio.sleep(0.3)
            assert await pool.redis.client_kill_filter(_type="pubsub") >= 1
        finally:
            os.kill(pids[0], signal.SIGCONT)
        assert (await asyncio.wait_for(waiting, 10)).memes
        assert (await asyncio.wait_for(pool.run(RankJob("배고파", 3, None)), 10)).memes  # announced again


@contextlib.asynccontextmanager
async def _worker_and_pool(
    redis_server: RedisServer, worker_config: WorkerConfig, job_timeout_s: float
) -> AsyncIterator[tuple[QueuePool, list[int]]]:
    """`fffusion worker` with one process (its pid in the list once it takes jobs) and an instance's queue."""
    stop, pids = asyncio.Event(), []
    running = asyncio.create_task(
        run_worker(worker_config, redis_server.url, 1, job_timeout_s, 0.05, stop, pids.extend))
    pool = QueuePool(redis_server.url, queue_length=8, job_timeout_s=job_timeout_s)
    await pool.start()
    try:
        while not (pids and pool.healthy):  # taking jobs, and the instance has seen it alive
            assert not running.done(), running.exception()
            await asyncio.sleep(0.1)
        yield pool, pids
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await pool.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_health_check_follows_whether_a_worker_process_is_alive(
    redis_server: RedisServer, worker_config: WorkerConfig
) -> None:
    """An instance is healthy while some worker process anywhere is alive: not before one starts, not while the
    only one is stopped (SIGSTOP), again once it runs."""
    pool = QueuePool(redis_server.url, queue_length=8, job_timeout_s=5)
    await pool.start()
    stop, pids = asyncio.Event(), []
    running = None
    try:
        await pool.redis.flushall()
        await asyncio.sleep(WATCH_WORKERS_S + 0.5)
        assert not pool.healthy
        running = asyncio.create_task(run_worker(worker_config, redis_server.url, 1, 5, 0.05, stop, pids.extend))
        assert await _becomes(lambda: pool.healthy, 120)
        os.kill(pids[0], signal.SIGSTOP)
        try:
            assert await _becomes(lambda: not pool.healthy, HEARTBEAT_S + 1 + WATCH_WORKERS_S + 2)
        finally:
            os.kill(pids[0], signal.SIGCONT)
        assert await _becomes(lambda: pool.healthy, HEARTBEAT_S + WATCH_WORKERS_S + 2)
    finally:
        stop.set()
        if running is not None:
            await asyncio.wait_for(running, 60)
        await pool.close()


async def _becomes(condition: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return condition()


async def test_with_no_worker_alive_a_request_is_refused_at_once(redis_server: RedisServer) -> None:
    """No worker process has said it is alive: a request is refused at once with the "busy, try shortly" answer,
    not left to wait out its deadline (49 s with the defaults), and leaves no job behind."""
    pool = QueuePool(redis_server.url, queue_length=8, job_timeout_s=20)
    await pool.start()
    try:
        await pool.redis.flushall()
        await asyncio.sleep(WATCH_WORKERS_S + 0.5)
        assert pool.trouble == "no worker process is alive"
        started = time.monotonic()
        with pytest.raises(ServiceError) as caught:
            await asyncio.wait_for(pool.run(RankJob("배고파", 3, None)), 5)
        assert caught.value.key == "service.unavailable" and time.monotonic() - started < 0.5
        assert render("service.unavailable", "ko") != render("service.worker_died", "ko")
        assert await pool.redis.zcard(QUEUE) == 0 and not await pool.redis.keys(job_key_prefix + "*")
    finally:
        await pool.close()


async def test_a_worker_keeps_its_processes_through_a_redis_restart(
    worker_config: WorkerConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """redis-server stopped and started again under a running `fffusion worker`: its process reconnects instead of
    exiting (and being replaced, reloading every model), keeps its pid, and serves jobs again."""
    try:
        server = start_redis()
    except FileNotFoundError as err:
        pytest.skip(f"needs a real Redis: {err}")
    stop, pids = asyncio.Event(), []
    running = asyncio.create_task(run_worker(worker_config, server.url, 1, 10, 0.05, stop, pids.extend))
    pool = QueuePool(server.url, queue_length=8, job_timeout_s=10)
    try:
        await pool.start()
        assert await _becomes(lambda: bool(pids) and pool.healthy, 180), running
        assert (await pool.run(RankJob("배고파", 3, None))).memes
        server.stop()
        await asyncio.sleep(HEARTBEAT_S + 2)  # the worker's heartbeat fails meanwhile
        assert not pool.healthy and pool.trouble == "Redis does not answer"
        server = start_redis(server.port)
        assert await _becomes(lambda: pool.healthy, 30)
        assert (await asyncio.wait_for(pool.run(RankJob("배고파", 3, None)), 30)).memes
        assert _alive(pids[0])
        assert not [r for r in caplog.records if "replacing it" in r.getMessage()]
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await pool.close()
        server.stop()
async def test_a_deletion_takes_the_persons_waiting_jobs_out_of_the_queue(
    redis_server: RedisServer, postgres_server: PostgresServer, worker_config: WorkerConfig,
    shared_pool: WorkerPool, photo_a: bytes, tmp_path: Path,
) -> None:
    """No worker takes a job (one says it is alive, so requests wait rather than being refused at once): three of
    Alice's requests wait in the queue through one instance, her face record in each. Deleted through the other
    instance, nothing of hers is left in Redis, her three requests end at once with "deleted" (not at the queue's
    deadline), and someone else's waiting job stays."""
    url = await postgres_database(postgres_server, "withdraw")
    instances = contextlib.AsyncExitStack()
    one, two = [await _instance(instances, redis_server, url, worker_config, tmp_path / f"instance{n}")
                for n in range(2)]
    redis = one.pool.redis  # type: ignore[attr-defined]
    alice, bob = Person("kakao", "alice"), Person("kakao", "bob")
    try:
        await redis.flushall()
        await redis.set(QUEUE + health_check_key_suffix, b"a worker that takes nothing", px=60_000)
        assert await _becomes(lambda: one.pool.healthy, WATCH_WORKERS_S + 2)
        record = (await shared_pool.run(RegisterJob(photo_a))).record
        face = StoredFace("기본", "mesh", record, b"")
        await one.store.save_face(await one.store.ensure_person(alice.platform, alice.user_id), face, make_default=True)
        hers = [asyncio.create_task(one.make_meme(alice, text)) for text in ("배고파", "졸려", "시험 망했어")]
        his = asyncio.create_task(one.make_meme(bob, "배고파"))
        for _ in range(50):
            if await redis.zcard(QUEUE) == 4:
                break
            await asyncio.sleep(0.1)
        assert await redis.zcard(QUEUE) == 4
        asked = time.monotonic()
        assert await two.delete_person(alice)
        for ended in await asyncio.wait_for(asyncio.gather(*hers, return_exceptions=True), 5):
            assert isinstance(ended, InputError) and ended.key == "person.deleted"
        assert time.monotonic() - asked < 3
        for key in [key async for key in redis.scan_iter()]:
            assert b"alice" not in key, key
            if await redis.type(key) == b"string":
                assert record not in await redis.get(key), key  # no job's record holds her face
        assert await redis.zcard(QUEUE) == 1 and not his.done()  # Bob's job still waits for a worker
        his.cancel()
    finally:
        await redis.delete(QUEUE + health_check_key_suffix)
        await instances.aclose()


async def test_a_result_image_crosses_the_queue_once(
    redis_server: RedisServer, postgres_server: PostgresServer, worker_config: WorkerConfig, photo_a: bytes,
    tmp_path: Path,
) -> None:
    """Over Redis the worker puts the meme it composed in the shared results cache and answers with where it is
    (Kept): the answer holds no image bytes, the bot writes no image to Redis, and what the person gets is what the
    cache holds, for a whole request (MakeJob) and for "다른 짤" (ComposeJob); a worker that has not learned the
    votes takes the ones shared in Redis, in the same trip. Deleted through either instance
    after the worker kept her result and before the bot wrote it down, nothing of hers stays in the cache, nor
    among the votes shared with the workers."""
    url = await postgres_database(postgres_server, "kept")
    instances = contextlib.AsyncExitStack()
    one, two = [await _instance(instances, redis_server, url, worker_config, tmp_path / f"instance{n}")
                for n in range(2)]
    stop, pids = asyncio.Event(), []
    running = asyncio.create_task(run_worker(worker_config, redis_server.url, 1, 30, 0.05, stop, pids.extend))
    answers: list[object] = []
    run, put = one.pool.run, one._results.put
    puts: list[str] = []

    async def recorded(job: Job[A]) -> A:
        answer = await run(job)
        answers.append(answer)
        return answer

    async def recorded_put(key: str, item: Composed) -> None:
        puts.append(key)
        await put(key, item)

    one.pool.run, one._results.put = recorded, recorded_put  # type: ignore[method-assign]
    redis = one.pool.redis  # type: ignore[attr-defined]
    try:
        assert await _becomes(lambda: bool(pids) and one.pool.healthy, 180)
        alice = Person("kakao", "alice-kept")
        await one.register_face(alice, photo_a)
        made = await one.make_meme(alice, "배고파 죽겠다")
        following = await one.next_meme(alice, made.request_id)
        # one job each: the worker had learned no votes yet, and took the ones shared instead of answering 'stale'
        assert [type(a) for a in answers] == [Registered, Made, Composed]
        composed = [answers[1].composed, answers[2]]  # type: ignore[attr-defined]
        assert puts == []
        for answer, result in zip(composed, (made, following), strict=True):
            assert answer is not None and answer.image == b"" and answer.swapped
            assert answer.kept == Kept(result.result_key, len(result.image))
            assert (await results.get(redis, result.result_key)).image == result.image  # type: ignore[union-attr]

        make = one.jobs.make
        for deleting in (one, two):
            await one.register_face(alice, photo_a)
            answered, proceed = asyncio.Event(), asyncio.Event()

            async def held(*args: Any, answered: asyncio.Event = answered, proceed: asyncio.Event = proceed,
                           **kwargs: Any) -> Made:
                answer = await make(*args, **kwargs)
                answered.set()
                await proceed.wait()
                return answer

            one.jobs.make = held  # type: ignore[method-assign]
            in_flight = asyncio.create_task(one.make_meme(alice, "시험 완전 망했어"))
            await asyncio.wait_for(answered.wait(), 60)
            kept = answers[-1].composed.kept  # type: ignore[attr-defined]
            assert kept is not None and await redis.exists(results.key_of(kept.key))  # the worker kept it
            assert [k async for k in redis.scan_iter(VOTES + "*")]  # the votes shared, hers among them
            assert await deleting.delete_person(alice)
            assert not [k async for k in redis.scan_iter(VOTES + "*")]
            proceed.set()
            with pytest.raises(InputError) as caught:
                await in_flight
            assert caught.value.key == "person.deleted"
            assert not await redis.exists(results.key_of(kept.key))
            assert not [k async for k in redis.scan_iter(results.PREFIX + "*")]  # nor the earlier two
            one.jobs.make = make  # type: ignore[method-assign]
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await instances.aclose()


async def _instance(running: contextlib.AsyncExitStack, redis_server: RedisServer, database_url: str,
                    config: WorkerConfig, data: Path) -> MemeService:
    """A bot instance as `fffusion run` makes it with FFFUSION_REDIS_URL (jobs, rate limits and results in
    Redis), running until `running` closes."""
    return await running.enter_async_context(running_service(Settings().replace(
        redis_url=redis_server.url, database_url=database_url, data_dir=data, cache_dir=config.cache_dir)))


#: sha256 (first 16 hex digits) of the source of the arq methods core/compute/redis/arq_private.py overrides, as of
#: arq 0.28.0: a release that changes either fails here, and the override is then checked against it
ARQ_OVERRIDDEN = {"_poll_iteration": "f8d39d823a0a59f2", "_release_sem_dec_counter_on_complete": "0ed101482e942c33"}


def test_the_arq_internals_the_worker_overrides_are_the_ones_it_was_written_for() -> None:
    found = {name: hashlib.sha256(inspect.getsource(getattr(Worker, name)).encode()).hexdigest()[:16]
             for name in ARQ_OVERRIDDEN}
    assert found == ARQ_OVERRIDDEN, "arq changed a method core/compute/redis/arq_private.py overrides"
    overridden = {name for name in vars(NudgedWorker) if name.startswith("_") and hasattr(Worker, name)
                  and not name.startswith("__")}
    assert overridden == set(ARQ_OVERRIDDEN)  # no other arq internal is overridden
