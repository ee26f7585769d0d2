"""The worker pool when workers hang: jobs have a deadline, hung workers are replaced without anyone waking
them, and the pool says it is unhealthy while no worker can take a job."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web

from bot.web import health_handler
from core.compute.contract import Job, Made, WorkerConfig
from core.compute.local import WorkerPool
from core.errors import ServiceError
from core.recommend.feedback import FeedbackSettings
from core.service.service import MemeService, Person
from tests.jobs import Sleep, WithSleep
from tests.loopback import start_loopback

DEADLINE_S = 2.0
A = TypeVar("A")


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


async def _gone(pid: int) -> bool:
    """Whether the process ends within moments (a killed process may still be running its exit)."""
    for _ in range(50):
        if _state(pid) in (None, "Z"):  # gone, or not yet reaped
            return True
        await asyncio.sleep(0.05)
    return False


async def _health(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        return resp.status


async def test_stopped_workers_time_out_and_are_replaced(worker_config: WorkerConfig, tmp_path: Path) -> None:
    pool = WorkerPool(2, 4, WithSleep(), job_timeout_s=DEADLINE_S)
    await pool.start()
    service = MemeService(worker_config, tmp_path, pool=pool)
    await service.store.open()  # the health check asks the store too
    app = web.Application()
    app.router.add_get("/", health_handler(service))
    runner, port = await start_loopback(app)
    health = f"http://127.0.0.1:{port}/"
    session = aiohttp.ClientSession()
    try:
        assert await _health(session, health) == 200
        stopped = pool.pids
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        for _ in range(20):  # the signal lands within moments
            if await _health(session, health) == 503:
                break
            await asyncio.sleep(0.05)
        # no worker can take a job: the health check says so before any job times out
        assert await _health(session, health) == 503 and not pool.healthy
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes = await asyncio.gather(*(pool.run(Sleep()) for _ in range(3)), return_exceptions=True)
        waited = loop.time() - started
        assert [getattr(o, "key", o) for o in outcomes] == ["service.timeout"] * 3
        assert waited < DEADLINE_S + 1.5, waited
        # nobody sends SIGCONT: the stopped workers are killed and new ones serve
        for _ in range(200):
            if pool.healthy and len(set(pool.pids) - set(stopped)) == 2:
                break
            await asyncio.sleep(0.1)
        assert pool.healthy and not set(pool.pids) & set(stopped)
        assert await _health(session, health) == 200
        assert await pool.run(Sleep()) in pool.pids
        assert all([await _gone(pid) for pid in stopped])
        assert pool.replaced == 2
    finally:
        await session.close()
        await runner.cleanup()
        await pool.close()
        await service.store.close()


async def test_a_job_past_its_deadline_frees_its_worker() -> None:
    pool = WorkerPool(1, 2, WithSleep(), job_timeout_s=DEADLINE_S)
    await pool.start()
    try:
        (pid,) = pool.pids
        with pytest.raises(ServiceError) as caught:
            await pool.run(Sleep(60))
        assert caught.value.key == "service.timeout"
        assert await pool.run(Sleep()) != pid
    finally:
        await pool.close()


async def test_close_does_not_wait_for_a_stopped_worker() -> None:
    pool = WorkerPool(1, 2, WithSleep(), job_timeout_s=60)
    await pool.start()
    (pid,) = pool.pids
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    await pool.close()
    assert time.monotonic() - started < 15
    assert await _gone(pid)


async def test_a_worker_killed_while_idle_is_replaced_before_a_job_reaches_it() -> None:
    """kill -9 of an idle worker: its death is noticed at once (no job has to reach it first), the other worker
    serves meanwhile, and 20 requests right after all succeed."""
    pool = WorkerPool(2, 32, WithSleep(), job_timeout_s=20)
    await pool.start()
    try:
        killed = pool.pids[0]
        os.kill(killed, signal.SIGKILL)
        await asyncio.sleep(0.3)  # the kill lands; no job was sent to find out
        outcomes = await asyncio.gather(*(pool.run(Sleep()) for _ in range(20)), return_exceptions=True)
        assert [o for o in outcomes if not isinstance(o, int)] == []
        assert killed not in outcomes
        for _ in range(200):  # replaced without a job going to the dead worker
            if killed not in pool.pids and pool.healthy:
                break
            await asyncio.sleep(0.1)
        assert killed not in pool.pids and pool.replaced == 1
        assert set(await asyncio.gather(*(pool.run(Sleep()) for _ in range(8)))) <= set(pool.pids)
    finally:
        await pool.close()


async def test_votes_newer_than_a_workers_cost_no_second_trip(
    worker_config: WorkerConfig, shared_pool: WorkerPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every meme records a vote, and the votes are read anew for every request (refresh_s=0): each request asks
    for votes no worker has learned yet. Each is still one job through the pool, answered in full: the worker
    that had older votes gets the new ones from its pool and runs the job again in place (it answered 'stale' to
    the service before, and the whole job went through the queue twice)."""
    service = MemeService(worker_config, tmp_path, pool=shared_pool, feedback=FeedbackSettings(refresh_s=0))
    await service.start()
    answers: list[object] = []
    run = shared_pool.run

    async def recorded(job: Job[A]) -> A:
        answer = await run(job)
        answers.append(answer)
        return answer

    monkeypatch.setattr(shared_pool, "run", recorded)
    try:
        for n, text in enumerate(("배고파 죽겠다", "시험 완전 망했어", "너무 졸려 자고 싶어", "오늘 월급날이다")):
            before = await service.learning.generation()
            await service.make_meme(Person("t", f"voter{n}"), text)
            assert await service.learning.generation() != before  # a vote was recorded: new votes each time
            assert len(answers) == n + 1, answers  # one job per meme
            made = answers[-1]
            assert isinstance(made, Made) and not made.stale and made.composed is not None
    finally:
        await service.close()
