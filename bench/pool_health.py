"""How fast the health check (WorkerPool.healthy, GET /) turns unhealthy when the workers hang, and when a hung
worker is replaced. Workers here load nothing, so the replacement time excludes loading the models.

    python -m bench.pool_health
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from core.compute.local import WorkerPool
from tests.jobs import Sleep, WithSleep


async def main() -> None:
    pool = WorkerPool(2, 4, WithSleep(), job_timeout_s=20)
    await pool.start()
    for pid in pool.pids:
        os.kill(pid, signal.SIGSTOP)
    t = time.monotonic()
    while pool.healthy:
        await asyncio.sleep(0.001)
    print(f"SIGSTOP both workers -> unhealthy after {1000*(time.monotonic()-t):.1f} ms")
    await pool.close()
    # a worker hung inside a job (not stopped): unhealthy once the job outlives its deadline
    pool = WorkerPool(1, 4, WithSleep(), job_timeout_s=3)
    await pool.start()
    job = asyncio.ensure_future(pool.run(Sleep(60)))
    t = time.monotonic()
    await asyncio.sleep(0.05)
    while pool.healthy:
        await asyncio.sleep(0.01)
    print(f"worker hung in a job -> unhealthy after {time.monotonic()-t:.2f} s (deadline 3 s)")
    try:
        await job
    except Exception as e:
        print("job:", getattr(e, "key", e), f"after {time.monotonic()-t:.2f} s")
    while not pool.healthy:
        await asyncio.sleep(0.01)
    print(f"healthy again after {time.monotonic()-t:.2f} s (replacement started)")
    await pool.close()

if __name__ == "__main__":
    asyncio.run(main())
