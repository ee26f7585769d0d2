"""Scale-out benchmark: make_meme throughput and latency at 8 and 32 concurrent people for three set-ups, with
real models, a real redis-server and a real PostgreSQL on loopback (started here, in temporary folders):

  in-process   the embedded default: SQLite and the in-process pool (--pool processes, default one per core)
  1 worker     PostgreSQL, and the jobs on the Redis queue run by one `fffusion worker` (one process)
  2 workers    the same with two `fffusion worker` processes

The bot side runs in this process (as one `fffusion run` instance would); every request is worked on (the
in-process results cache is off; make_meme never reads the Redis one, which is on as `fffusion run` has it: the
worker puts each meme there), and the Redis rate limiter is on (with a limit nobody reaches), so its cost counts.
Also: the queue's overhead per job (per job, the time from enqueueing to the result in hand minus the time the
worker ran it, as arq records it; median over rank jobs sent one at a time), the ratio of 2 workers to 1 at 32
people, and per meme over Redis (one at a time, 1 worker): jobs through the queue, Redis commands, and bytes into
and out of Redis, with the votes unchanged and with new votes for every request.

The two queue set-ups are measured in alternating rounds (1 worker, 2 workers, 1 worker, ...; for a 1-worker round
the second worker is stopped with SIGSTOP while no job is in flight), and each figure is the median over the
rounds, the ratio the median of each round's ratio: on a shared virtual machine the CPU time one meme takes drifts
by 10-20 % from minute to minute, which a single run of each set-up mistakes for a difference between them.

    python -m bench.scale [--rounds 5] [--requests-per-caller 6] [--overhead-jobs 200] [--traffic-memes 24]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import median
from bench.service import SENTENCES, _photos, run_level
from bot.config import DEMO_CATALOG, Settings
from core.catalog.cache import DiskCache
from core.catalog.catalog import load_catalog
from core.catalog.prepare import prepare_catalog
from core.compute.contract import RankJob, WorkerConfig
from core.compute.redis.client import QueuePool
from core.faces.engines import load_engine
from core.limits import Limits
from core.loop import run as run_loop
from core.recommend.load import load_embedder
from core.service.pgstore import PostgresStore
from core.service.service import MemeService, Person
from core.service.shared import RedisRateLimiter, RedisResultCache
from tests.conftest import postgres_database
from tests.servers import start_postgres, start_redis

REPO = Path(__file__).resolve().parent.parent
LEVELS = (8, 32)
QUEUE_LENGTH = 64


def start_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    """One `fffusion worker` with one process, in its own process group; returns once its models are loaded and it
    takes jobs."""
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready = threading.Event()

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "take jobs from the queue" in line:
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(180):
        proc.kill()
        raise RuntimeError("fffusion worker did not start in 180 s")
    return proc


@contextlib.contextmanager
def paused(workers: list[subprocess.Popen[str]]) -> Iterator[None]:
    """The workers stopped (SIGSTOP to their process groups): they take no job and use no CPU until resumed."""
    for proc in workers:
        os.killpg(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in workers:
            os.killpg(proc.pid, signal.SIGCONT)


async def overhead_run(service: MemeService, jobs: int) -> float:
    """Median milliseconds of one rank job, one at a time."""
    times = []
    for _ in range(jobs):
        start = time.perf_counter()
        await service.pool.run(RankJob("배고파 죽겠다", 10, None))
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def queue_ms(service: MemeService) -> float:
    """Median milliseconds the queue added to the jobs since the last call (0 for the in-process pool)."""
    if not isinstance(service.pool, QueuePool):
        return 0.0
    costs = [(total - ran) * 1000 for total, ran in service.pool.timings]
    service.pool.timings.clear()
    return median(costs)


async def ready_people(service: MemeService) -> list[Person]:
    """32 people with a face each, and the workers warmed up (meme images decoded)."""
    photos = _photos()
    people = [Person("bench", str(n)) for n in range(32)]
    for n, person in enumerate(people):
        await service.register_face(person, photos[n % 2])
    await run_level(service, people, 4, 2)
    return people


async def overheads(service: MemeService, jobs: int) -> dict[str, float]:
    queue_ms(service)  # only the rank jobs below count
    return {"rank_ms": await overhead_run(service, jobs), "queue_ms": queue_ms(service)}


async def _redis_counts(redis: Redis) -> tuple[int, int, int]:
    """Commands Redis has run and bytes it has taken in and sent out, from every client (the instance, the workers)."""
    commands = sum(int(v["calls"]) for k, v in (await redis.info("commandstats")).items() if k != "cmdstat_info")
    stats = await redis.info("stats")
    return commands, int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"])


async def traffic(service: MemeService, url: str, people: list[Person], memes: int, new_votes: bool
                  ) -> dict[str, float]:
    """Per meme, one at a time over the queue: jobs through it, Redis commands (every client's: the instance's
    and the workers'), and bytes into and out of Redis, less what an idle stretch as long costs (the workers'
    heartbeats and polling, the instance's watch). `new_votes`: the votes are read anew for every request, so the
    workers have always to learn them (as after every `refresh_s` in use)."""
    assert isinstance(service.pool, QueuePool)
    learning, settings = service.learning, service.learning.settings
    if new_votes:
        learning.settings = dataclasses.replace(settings, refresh_s=0)
    redis = Redis.from_url(url)
    try:
        before, jobs, start = await _redis_counts(redis), len(service.pool.timings), time.perf_counter()
        for n in range(memes):
            await service.make_meme(people[n % len(people)], SENTENCES[n % len(SENTENCES)])
        after, jobs, took = await _redis_counts(redis), len(service.pool.timings) - jobs, time.perf_counter() - start
        idle_start = await _redis_counts(redis)
        await asyncio.sleep(min(took, 5.0))
        idle = [(b - a) * took / min(took, 5.0) for a, b in zip(idle_start, await _redis_counts(redis), strict=True)]
    finally:
        learning.settings = settings
        await redis.aclose()
    busy = [b - a - i for a, b, i in zip(before, after, idle, strict=True)]
    return {"jobs": jobs / memes, "commands": busy[0] / memes, "in_kb": busy[1] / memes / 1024,
            "out_kb": busy[2] / memes / 1024}


async def measure(name: str, service: MemeService, per_caller: int, jobs: int) -> dict[str, Any]:
    """One run of each level."""
    people = await ready_people(service)
    row: dict[str, Any] = {"name": name, **await overheads(service, jobs)}
    for callers in LEVELS:
        row[callers] = await run_level(service, people, callers, per_caller)
    return row


async def alternating(service: MemeService, workers: list[subprocess.Popen[str]], rounds: int, per_caller: int,
                      jobs: int, url: str, memes: int) -> tuple[list[dict[str, Any]], list[float]]:
    """1 worker and 2 workers in alternating rounds on one service; each figure is the median over the rounds
    (Redis traffic per meme: measured once, in the first 1-worker round). Returns the two rows and each round's
    ratio of 2 workers to 1 at the largest level."""
    people = await ready_people(service)
    runs: dict[int, dict[int, list[dict[str, float]]]] = {n: {c: [] for c in LEVELS} for n in (1, 2)}
    rows = [{"name": f"{n} worker{'s' if n > 1 else ''} over Redis"} for n in (1, 2)]
    for round_ in range(rounds):
        for n, row in zip((1, 2), rows, strict=True):
            with paused(workers[n:]):
                if round_ == 0:
                    row.update(await overheads(service, jobs))
                    if n == 1:
                        row["traffic"] = {new: await traffic(service, url, people, memes, new)
                                          for new in (False, True)}
                for callers in LEVELS:
                    runs[n][callers].append(await run_level(service, people, callers, per_caller))
    for n, row in zip((1, 2), rows, strict=True):
        for callers in LEVELS:
            row[callers] = {
                "rps": median([r["rps"] for r in runs[n][callers]]),
                "p95": median([r["p95"] for r in runs[n][callers]]),
                "errors": sum(r["errors"] for r in runs[n][callers]),
            }
    top = LEVELS[-1]
    return rows, [two["rps"] / one["rps"] for one, two in zip(runs[1][top], runs[2][top], strict=True)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of 1 and 2 workers")
    parser.add_argument("--requests-per-caller", type=int, default=6)
    parser.add_argument("--overhead-jobs", type=int, default=200)
    parser.add_argument("--traffic-memes", type=int, default=24, help="memes one at a time for the Redis traffic")
    parser.add_argument("--pool", type=int, default=0, help="in-process pool processes (default: one per core)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))

    redis, postgres = start_redis(), start_postgres()
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            limits = dataclasses.replace(Limits(), rate_per_minute=1_000_000, queue_length=QUEUE_LENGTH)
            config = WorkerConfig(catalog_dir=DEMO_CATALOG, cache_dir=Path(tmp) / "cache", limits=limits)
            cache = DiskCache(config.cache_dir)  # what `fffusion catalog build` does, so workers start warm
            prepare_catalog(load_catalog(DEMO_CATALOG), load_embedder(), load_engine(), cache, limits)
            cache.close()

            local = MemeService(config, Path(tmp) / "local", workers=args.pool or cores, results_cache_mb=0)
            await local.start()
            try:
                rows.append(await measure(f"in-process ({args.pool or cores} proc)", local,
                                          args.requests_per_caller, args.overhead_jobs))
            finally:
                await local.close()

            env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
            env.update(FFFUSION_REDIS_URL=redis.url, FFFUSION_CACHE_DIR=str(config.cache_dir),
                       FFFUSION_WORKERS="1", FFFUSION_LOG_LEVEL="INFO")
            workers = [start_worker(env) for _ in range(2)]
            try:
                queue = QueuePool(redis.url, QUEUE_LENGTH, job_timeout_s=20)
                await queue.start()
                shared = MemeService(
                    config, Path(tmp) / "shared",
                    store=PostgresStore(await postgres_database(postgres, "bench")),
                    pool=queue, rate=RedisRateLimiter(queue, limits.rate_per_minute),
                    results=RedisResultCache(queue, Settings().results_cache_s),
                )
                await shared.start()
                try:
                    queued, ratios = await alternating(shared, workers, args.rounds, args.requests_per_caller,
                                                       args.overhead_jobs, redis.url, args.traffic_memes)
                    rows += queued
                finally:
                    await shared.close()
                    await queue.close()
            finally:
                for proc in workers:
                    proc.terminate()
                    proc.wait(60)
    finally:
        redis.stop()
        postgres.stop()
    report(rows, ratios, cores, args.rounds)


def report(rows: list[dict[str, Any]], ratios: list[float], cores: int, rounds: int) -> None:
    print(f"make_meme on {cores} cores, every request worked on ({' and '.join(map(str, LEVELS))} concurrent people;"
          f" the queue set-ups: medians over {rounds} alternating rounds):")
    cell: Callable[[dict[str, float]], str] = lambda r: (  # noqa: E731
        f"{r['rps']:5.1f}/s p95 {r['p95']:5.0f} ms err {r['errors']}")
    for row in rows:
        print(f"  {row['name']:<26} " + "   ".join(f"{c:2d}: {cell(row[c])}" for c in LEVELS)
              + f"   rank job {row['rank_ms']:.1f} ms")
    local, one, two = rows
    for row in (one, two):
        print(f"queue overhead per job, {row['name']}: {row['queue_ms']:.1f} ms "
              "(median; enqueue to result in hand minus the worker's run)")
    print(f"rank job one at a time: in-process {local['rank_ms']:.1f} ms, through the queue {one['rank_ms']:.1f} ms")
    for new, figures in one["traffic"].items():
        print(f"Redis per meme, 1 worker, one at a time, {'new votes every request' if new else 'votes unchanged'}: "
              f"{figures['jobs']:.2f} jobs, {figures['commands']:.1f} commands, {figures['in_kb']:.0f} KB in, "
              f"{figures['out_kb']:.0f} KB out (every client; idle traffic taken off)")
    print(f"2 workers / 1 worker at {LEVELS[-1]} people: {median(ratios):.2f} (median; each round: "
          + ", ".join(f"{r:.2f}" for r in ratios) + ")")


if __name__ == "__main__":
    run_loop(main())  # the event loop `fffusion run` has
