"""Service benchmark: make_meme throughput and latency at 1, 4 and 16 concurrent callers, and the memory of the
whole process tree (the service plus its pool workers). Real models, real workers, a real SQLite file.

    python -m bench.service [--workers N] [--requests-per-caller 8] [--results-cache]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import os
import random
import tempfile
import time
from importlib import resources
from pathlib import Path

from PIL import Image

from bench.common import median, percentile
from bot.config import DEMO_CATALOG
from core.catalog.cache import DiskCache
from core.catalog.catalog import load_catalog
from core.catalog.prepare import prepare_catalog
from core.compute.contract import WorkerConfig
from core.faces.engines import load_engine
from core.limits import Limits
from core.loop import run as run_loop
from core.recommend.load import load_embedder
from core.service.service import MemeService, Person

SENTENCES = [
    "시험 완전 망했어 ㅠㅠ",
    "배고파 죽겠다 밥 먹자",
    "아 진짜 웃겨 ㅋㅋㅋ",
    "너무 졸려 자고 싶어",
    "오늘 월급날이다",
    "역시 내가 최고지",
    "이게 무슨 소리야",
    "다 때려치우고 떠나고 싶다",
    "생일 축하해줘서 고마워",
    "아 짜증 나",
    "드디어 합격했다",
    "옆에서 훈수 좀 그만 둬",
    "요즘 너무 행복해",
    "친구들이랑 밤새 놀았어",
    "한 입만 줘",
]


def _photos() -> list[bytes]:
    """Two real faces from installed packages: a crop of insightface's t1.jpg and scikit-image's astronaut."""
    out = []
    t1 = Image.open(io.BytesIO(resources.files("insightface").joinpath("data/images/t1.jpg").read_bytes()))
    astronaut = Image.open(io.BytesIO(resources.files("skimage").joinpath("data/astronaut.png").read_bytes()))
    for img in (t1.crop((1040, 190, 1280, 470)), astronaut.crop((60, 0, 360, 320))):
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=92)
        out.append(buf.getvalue())
    return out


def tree_peak_rss_mb(pids: list[int]) -> float:
    """Sum of each process's peak resident set (VmHWM): an upper bound of the tree's peak."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def run_level(service: MemeService, people: list[Person], callers: int, per_caller: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    rng = random.Random(callers)

    async def caller(n: int) -> None:
        nonlocal errors
        person = people[n % len(people)]
        for _ in range(per_caller):
            start = time.perf_counter()
            try:
                await service.make_meme(person, rng.choice(SENTENCES))
            except Exception:
                errors += 1
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    elapsed = time.perf_counter() - start
    return {
        "rps": len(latencies) / elapsed,
        "p50": median(latencies),
        "p95": percentile(latencies, 95),
        "errors": errors,
        "n": len(latencies),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=0, help="pool workers (default: one per core)")
    parser.add_argument("--requests-per-caller", type=int, default=8)
    parser.add_argument("--results-cache", action="store_true", help="keep the results cache on")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        limits = dataclasses.replace(Limits(), rate_per_minute=0, queue_length=64)
        config = WorkerConfig(catalog_dir=DEMO_CATALOG, cache_dir=Path(tmp) / "cache", limits=limits)
        # Prepare the catalog first (what `fffusion catalog build` does), so workers start from the cache.
        cache = DiskCache(config.cache_dir)
        prepare_catalog(load_catalog(DEMO_CATALOG), load_embedder(), load_engine(), cache, limits)
        cache.close()
        service = MemeService(
            config, Path(tmp) / "data", workers=args.workers, results_cache_mb=64 if args.results_cache else 0
        )
        start = time.perf_counter()
        await service.start()
        print(f"service start with {service.pool.size} workers: {time.perf_counter() - start:.1f} s")
        photos = _photos()
        people = [Person("bench", str(n)) for n in range(16)]
        for n, person in enumerate(people):
            await service.register_face(person, photos[n % 2])
        await run_level(service, people, 2, 2)  # warm-up: decode meme images in the workers
        print(f"make_meme, results cache {'on' if args.results_cache else 'off'}:")
        for callers in (1, 4, 16):
            r = await run_level(service, people, callers, args.requests_per_caller)
            print(
                f"  {callers:2d} callers: {r['rps']:5.1f} req/s  p50 {r['p50']:6.0f} ms  p95 {r['p95']:6.0f} ms"
                f"  errors {r['errors']}/{r['n']}"
            )
        print(f"peak RSS, whole process tree: {tree_peak_rss_mb([os.getpid(), *service.pool.pids]):.0f} MB")
        await service.close()


if __name__ == "__main__":
    run_loop(main())  # the event loop `fffusion run` has
