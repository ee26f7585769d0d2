"""The two arq internals the queue's worker overrides, in one place. arq 0.28's `Worker._poll_iteration` reads the
queue's head and then checks and marks each job in four round trips (WATCH, EXISTS, ZSCORE, MULTI), and leaves
the jobs being run at the head until they end; `_release_sem_dec_counter_on_complete` is its only hook for "a
slot is free". Claiming in one script and waking on a free slot halve the queue's cost per job (bench/scale.py),
which arq's public API cannot do. tests/test_queue.py pins the source of both methods: an arq release that
changes them fails that test, and this module is then checked against it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.exceptions import RedisError

from core.compute.redis.common import NEW_JOBS

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
        pubsub: Any = self.pool.pubsub(ignore_subscribe_messages=True)
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

