"""A bot instance's health check on the several-machine set-up: `/healthz` answers 200 only while a request could be
served, and says what is missing otherwise: a worker process (none alive anywhere), Redis (the queue, the rate
limits, the results cache) or the database. Played with a real PostgreSQL, redis-server and `fffusion worker`
process of its own, each stopped in turn; with no worker alive a request is refused at once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import running_service
from bot.config import Settings
from bot.web import health_handler
from core.compute.contract import WorkerConfig
from core.compute.redis.common import HEARTBEAT_S, WATCH_WORKERS_S
from core.compute.redis.supervisor import run_worker
from core.errors import ServiceError
from tests.conftest import postgres_database
from tests.loopback import start_loopback
from tests.servers import start_postgres, start_redis

NOTICED_S = HEARTBEAT_S + 1 + WATCH_WORKERS_S + 3  # a heartbeat's record expires, then the instance looks


async def _health(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as resp:
        return resp.status, await resp.text()


async def _turns(session: aiohttp.ClientSession, url: str, check: Callable[[int, str], bool], within_s: float
                 ) -> tuple[int, str]:
    deadline = time.monotonic() + within_s
    while True:
        answer = await _health(session, url)
        if check(*answer) or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def test_health_follows_the_workers_redis_and_the_database(worker_config: WorkerConfig, tmp_path: Path) -> None:
    try:
        redis, postgres = start_redis(), None
        postgres = start_postgres()
    except FileNotFoundError as err:
        pytest.skip(f"needs a real Redis and PostgreSQL: {err}")
    limits = dataclasses.replace(worker_config.limits, job_timeout_s=5)
    database_url = await postgres_database(postgres, "health")
    settings = Settings().replace(data_dir=tmp_path, cache_dir=worker_config.cache_dir,
                                  catalog=worker_config.catalog_dir, database_url=database_url, redis_url=redis.url,
                                  limits=limits)
    instance = contextlib.AsyncExitStack()
    service = await instance.enter_async_context(running_service(settings))
    app = web.Application()
    app.router.add_get("/healthz", health_handler(service))
    runner, port = await start_loopback(app)
    url = f"http://127.0.0.1:{port}/healthz"
    session = aiohttp.ClientSession()
    stop, pids = asyncio.Event(), []

    def worker() -> asyncio.Task[None]:
        stop.clear()
        return asyncio.create_task(run_worker(worker_config, redis.url, 1, 5, 0.05, stop, pids.extend))

    running = worker()
    try:
        assert await _turns(session, url, lambda status, _: status == 200, 180) == (200, "ok\n")
        assert await service.rank("배고파 죽겠다", 3)

        # the only worker stops: 503 within a heartbeat, and a request is refused at once with "busy, try shortly"
        stop.set()
        await asyncio.wait_for(running, 60)
        status, text = await _turns(session, url, lambda status, _: status == 503, NOTICED_S)
        assert (status, text) == (503, "no worker process is alive\n")
        started = time.monotonic()
        with pytest.raises(ServiceError) as caught:
            await asyncio.wait_for(service.rank("배고파 죽겠다", 3), 5)
        assert caught.value.key == "service.unavailable" and time.monotonic() - started < 0.5
        running = worker()
        assert (await _turns(session, url, lambda status, _: status == 200, 180))[0] == 200

        # Redis stops (queue, rate limits, results cache): 503 naming it; back once it is back
        redis.stop()
        status, text = await _turns(session, url, lambda status, _: status == 503, NOTICED_S)
        assert (status, text) == (503, "Redis does not answer\n")
        redis = start_redis(redis.port)
        assert (await _turns(session, url, lambda status, _: status == 200, 60))[0] == 200

        # PostgreSQL stops: 503 naming the database, though the workers and Redis are fine
        postgres.stop()
        postgres = None
        status, text = await _turns(session, url, lambda status, _: status == 503, 10)
        assert status == 503 and text.startswith("the database does not answer (")
        assert "worker" not in text and "Redis" not in text
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await session.close()
        await runner.cleanup()
        await asyncio.wait_for(instance.aclose(), 30)
        redis.stop()
        if postgres is not None:
            postgres.stop()
