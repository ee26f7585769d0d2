"""The job queue's bound, on a real redis-server: with `queue_length` jobs waiting (no worker takes them here),
the next caller hears "busy" at once instead of waiting."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.errors import ServiceError
from core.service.queue import QUEUE, QueuePool
from core.service.worker import job_rank
from tests.servers import RedisServer


async def test_a_full_queue_answers_busy_at_once(redis_server: RedisServer) -> None:
    pool = QueuePool(redis_server.url, queue_length=2, job_timeout_s=1)
    await pool.start()
    try:
        await pool.redis.delete(QUEUE)
        waiting = [asyncio.create_task(pool.run(job_rank, "배고파", 3, None)) for _ in range(2)]
        while await pool.redis.zcard(QUEUE) < 2:
            await asyncio.sleep(0.01)
        start = time.monotonic()
        with pytest.raises(ServiceError) as caught:
            await pool.run(job_rank, "배고파", 3, None)
        assert caught.value.key == "service.busy" and time.monotonic() - start < 0.5
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        await pool.redis.delete(QUEUE)
        await pool.close()
