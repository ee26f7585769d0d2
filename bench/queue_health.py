"""How fast a bot instance on the Redis queue notices that no worker is alive: from the only `fffusion worker`'s
death (kill -9 of its process group) to GET /healthz answering 503, and to a request being refused at once with
the "busy, try shortly" answer instead of waiting out its deadline (2 x (20 s + 2 s) + 5 s = 49 s with the
defaults); and how long such a refusal takes. Real redis-server and `fffusion worker`, the instance in this process
(SQLite store), its health check served on loopback.

    python -m bench.queue_health [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.common import median
from bench.scale import start_worker
from bot.config import DEMO_CATALOG
from bot.web import health_handler
from core.compute.contract import WorkerConfig
from core.compute.redis.client import QueuePool
from core.compute.redis.common import QUEUE
from core.errors import ServiceError
from core.loop import run as run_loop
from core.service.service import MemeService
from tests.loopback import start_loopback
from tests.servers import start_redis

PROBE_S = 0.01  # how often the health check and a request are tried after the kill


async def _refused(service: MemeService) -> float | None:
    """Seconds a request took to be refused with "busy, try shortly", or None when it was queued (it would have
    waited for a worker: given up on after PROBE_S) or found the queue full of such."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(service.rank("배고파 죽겠다", 3), PROBE_S)
    except ServiceError as err:
        if err.key == "service.unavailable":
            return time.perf_counter() - started
        if err.key == "service.busy":  # the probes before it knew filled the queue
            return None
        raise
    except TimeoutError:
        return None
    raise RuntimeError("a request was served with no worker alive")


async def one_round(service: MemeService, session: aiohttp.ClientSession, health: str, env: dict[str, str]
                    ) -> tuple[float, float, list[float]]:
    worker = start_worker(env)
    while True:  # the instance has seen it alive
        async with session.get(health) as resp:
            if resp.status == 200:
                break
        await asyncio.sleep(0.1)
    os.killpg(worker.pid, signal.SIGKILL)
    killed = time.perf_counter()
    worker.wait()
    unhealthy = refused = None
    refusals: list[float] = []
    while unhealthy is None or refused is None:
        if unhealthy is None:
            async with session.get(health) as resp:
                if resp.status == 503:
                    unhealthy = time.perf_counter() - killed
        if refused is None:
            took = await _refused(service)
            if took is not None:
                refused = time.perf_counter() - killed
                refusals.append(took)
        await asyncio.sleep(PROBE_S)
    for _ in range(20):
        took = await _refused(service)
        assert took is not None
        refusals.append(took)
    await service.pool.redis.delete(QUEUE)  # the probes sent before the instance knew: nobody waits for them
    return unhealthy, refused, refusals


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    redis = start_redis()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = WorkerConfig(catalog_dir=DEMO_CATALOG, cache_dir=Path(tmp) / "cache")
            env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
            env.update(FFFUSION_REDIS_URL=redis.url, FFFUSION_CACHE_DIR=str(config.cache_dir),
                       FFFUSION_WORKERS="1", FFFUSION_LOG_LEVEL="INFO")
            queue = QueuePool(redis.url, 32, job_timeout_s=config.limits.job_timeout_s)
            await queue.start()
            service = MemeService(config, Path(tmp) / "data", pool=queue)
            await service.start()
            app = web.Application()
            app.router.add_get("/healthz", health_handler(service))
            runner, port = await start_loopback(app)
            try:
                async with aiohttp.ClientSession() as session:
                    rounds = [await one_round(service, session, f"http://127.0.0.1:{port}/healthz", env)
                              for _ in range(args.rounds)]
            finally:
                await runner.cleanup()
                await service.close()
                await queue.close()
    finally:
        redis.stop()
    print(f"the only worker killed (kill -9), {args.rounds} rounds (medians; each round):")
    for n, name in ((0, "/healthz answers 503"), (1, "a request is refused at once")):
        times = [r[n] for r in rounds]
        print(f"  {name:<30} {median(times):5.2f} s after ({', '.join(f'{t:.2f}' for t in times)})")
    refusals = [t * 1000 for r in rounds for t in r[2]]
    print(f"  a refusal takes {median(refusals):.1f} ms (median of {len(refusals)}; before: every request waited "
          f"its deadline, {queue.deadline_s:.0f} s)")


if __name__ == "__main__":
    run_loop(main())
