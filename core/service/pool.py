"""The executor pool in front of every CPU-heavy job, with a bounded queue and self-healing workers.

Each worker is a single-process executor of its own, so a worker that dies (a segfault in native code, the
OOM killer) breaks only its own job: that job fails with a clear error, the worker is replaced, and the
others keep serving. Workers load their models once, in the initializer.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from core.errors import FffusionError, ServiceError

log = logging.getLogger(__name__)


def _ping() -> int:
    return os.getpid()


class WorkerPool:
    def __init__(
        self,
        size: int,
        queue_length: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self.size = max(1, size)
        self._initializer = initializer
        self._initargs = initargs
        # spawn: forking a process that runs an event loop and threads is unsafe.
        self._context = multiprocessing.get_context("spawn")
        self._queue: asyncio.Queue[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = (
            asyncio.Queue(maxsize=max(1, queue_length))
        )
        self._executors: list[ProcessPoolExecutor] = []
        self._pids: list[int] = []
        self._consumers: list[asyncio.Task[None]] = []
        self._closed = False
        self.replaced = 0

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            1, mp_context=self._context, initializer=self._initializer, initargs=self._initargs
        )

    async def _warm(self, executor: ProcessPoolExecutor) -> int:
        return await asyncio.get_running_loop().run_in_executor(executor, _ping)

    async def start(self) -> None:
        """Start the workers; the first alone, so that shared caches it fills are ready for the others."""
        self._executors = [self._new_executor() for _ in range(self.size)]
        first = await self._warm(self._executors[0])
        rest = await asyncio.gather(*(self._warm(e) for e in self._executors[1:]))
        self._pids = [first, *rest]
        self._consumers = [asyncio.create_task(self._consume(slot)) for slot in range(self.size)]

    @property
    def pids(self) -> list[int]:
        return list(self._pids)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) in a worker. Raises ServiceError('busy') at once when the queue is full."""
        if self._closed:
            raise ServiceError("service.stopping")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((fn, args, future))
        except asyncio.QueueFull:
            raise ServiceError("service.busy") from None
        return await future

    async def _consume(self, slot: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            fn, args, future = await self._queue.get()
            if future.done():  # the caller gave up while it waited
                continue
            try:
                result = await loop.run_in_executor(self._executors[slot], fn, *args)
            except BrokenProcessPool:
                log.error(
                    "worker %s (pid %s) died during %s; replacing it", slot, self._pids[slot], fn.__name__
                )
                if not future.done():
                    future.set_exception(ServiceError("service.worker_died"))
                await self._replace(slot)
            except FffusionError as err:
                if not future.done():
                    future.set_exception(err)
            except asyncio.CancelledError:
                if not future.done():
                    future.set_exception(ServiceError("service.stopping"))
                raise
            except Exception as err:
                log.exception("job %s failed", fn.__name__)
                if not future.done():
                    future.set_exception(
                        ServiceError("internal")
                        if not isinstance(err, MemoryError)
                        else ServiceError("service.worker_died")
                    )
            else:
                if not future.done():
                    future.set_result(result)

    async def _replace(self, slot: int) -> None:
        self._executors[slot].shutdown(wait=False, cancel_futures=True)
        self.replaced += 1
        while not self._closed:
            self._executors[slot] = self._new_executor()
            try:
                self._pids[slot] = await self._warm(self._executors[slot])
                return
            except BrokenProcessPool:
                log.error("replacement worker %s failed to start; retrying", slot)
                await asyncio.sleep(1)

    async def close(self) -> None:
        """Stop taking work; queued jobs fail with a message, running ones are given up on."""
        self._closed = True
        while not self._queue.empty():
            _, _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(ServiceError("service.stopping"))
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(None, self._join)

    def _join(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True)
