"""The executor pool in front of every CPU-heavy job, with a bounded queue and self-healing workers.

A job is a typed request (core/compute/contract.py) that the worker runs with its context (core/compute/
runtime.py). Each worker is a single-process executor of its own, so a worker that dies (a segfault in native code, the
OOM killer) breaks only its own job: that job fails with a clear error, the worker is replaced, and the
others keep serving. A worker that dies while idle is noticed at once (its process sentinel is watched) and
replaced before a job reaches it. A job that outlives its deadline (a hung or stopped worker) is failed the same way and
its worker killed and replaced. Workers die with the server, even a server killed with SIGKILL. Workers load
their models once, in the initializer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core.compute.contract import Job, WorkerConfig, stale_generation, with_votes
from core.errors import FffusionError, ServiceError

if TYPE_CHECKING:  # the votes' module loads numpy, which the bot side needs only once it learns
    from core.recommend.feedback import Votes

log = logging.getLogger(__name__)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_S = 1.0  # how often a worker checks that the server that started it is still there
KILL_GRACE_S = 5.0  # on close, how long workers get to exit before they are killed


A = TypeVar("A")


class Executor(Protocol):
    """What runs the jobs in a worker process: core.compute.runtime.Context."""

    def execute(self, job: Job[A]) -> A: ...


@dataclass(frozen=True)
class Runtime:
    """How a worker process of the local pool starts: the runtime with its models, loaded there (the bot process
    never imports OpenCV or the models)."""

    config: WorkerConfig

    def __call__(self) -> Executor:
        from core.compute.runtime import start

        return start(self.config)


#: in a worker process: its executor (the pool's equivalent of arq's `ctx`), or why it failed to start (told by
#: _ping); one per process because a ProcessPoolExecutor hands its function nothing but the job
_executor: Executor | FffusionError | None = None


def _ping() -> int:
    if isinstance(_executor, FffusionError):
        raise _executor
    return os.getpid()


def _execute(job: Job[A]) -> A:
    if _executor is None or isinstance(_executor, FffusionError):
        raise RuntimeError("worker not started")
    return _executor.execute(job)


def die_with(parent: int) -> None:
    """In a worker: end when the server process ends, however it ends (kill -9 included).

    The kernel's parent-death signal does it at once on Linux; a watchdog thread on the parent's pid covers
    the rest (another OS, a parent thread that exits)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_S)
        os._exit(1)

    if os.getppid() != parent:  # the server died before the signal was armed
        os._exit(1)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _boot(parent: int, boot: Callable[[], Executor]) -> None:
    global _executor
    # Ctrl-C reaches the terminal's whole process group: the server stops this process, without a traceback here
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with(parent)
    try:
        _executor = boot()
    except FffusionError as err:  # a bad catalog, say: the server hears why instead of a broken pool
        _executor = err


def failure(job: str, err: Exception) -> ServiceError:
    """What the caller hears of a job that failed unexpectedly (the details go to the log)."""
    log.error("job %s failed", job, exc_info=err)
    return ServiceError("service.worker_died" if isinstance(err, MemoryError) else "internal")


_GONE = (None, "Z", "X")  # no process, or one that has exited and waits to be reaped
_STOPPED = ("T", "t")  # SIGSTOP, a debugger


def _proc_state(pid: int) -> str | None:
    """The process's state letter from /proc (Linux); elsewhere "R" while it exists."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "R"


def _can_run(pid: int) -> bool:
    return _proc_state(pid) not in (*_GONE, *_STOPPED)


class WorkerPool:
    def __init__(
        self,
        size: int,
        queue_length: int,
        boot: Callable[[], Executor],
        job_timeout_s: float = 20.0,
    ) -> None:
        """`boot`: picklable, called in each worker process (Runtime(config)); `job_timeout_s`: a job's deadline
        unless its registration names its own (core.compute.contract.JobSettings)."""
        self.size = max(1, size)
        self.job_timeout_s = job_timeout_s
        self._boot = boot
        # spawn: forking a process that runs an event loop and threads is unsafe.
        self._context = multiprocessing.get_context("spawn")
        self._queue: asyncio.Queue[tuple[Job[Any], asyncio.Future[Any]]] = (
            asyncio.Queue(maxsize=max(1, queue_length))
        )
        self._executors: list[ProcessPoolExecutor] = []
        self._pids: list[int] = []
        # per slot: when its running job started (None = idle), and whether it is being replaced
        self._busy_since: list[float | None] = [None] * self.size
        self._replacing: list[bool] = [False] * self.size
        # per slot: set when its process has exited (its sentinel became readable)
        self._exited: list[asyncio.Event] = [asyncio.Event() for _ in range(self.size)]
        self._sentinels: list[int | None] = [None] * self.size
        self._consumers: list[asyncio.Task[None]] = []
        self._closed = False
        self._votes: Votes | None = None  # the newest shared (share_votes)
        self.replaced = 0

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            1, mp_context=self._context, initializer=_boot,
            initargs=(os.getpid(), self._boot),
        )

    async def _warm(self, executor: ProcessPoolExecutor) -> int:
        return await asyncio.get_running_loop().run_in_executor(executor, _ping)

    def _watch(self, slot: int) -> None:
        """Notice the slot's process ending the moment it ends, busy or idle: the event loop watches its sentinel
        (a descriptor that becomes readable when the process exits)."""
        processes = list((getattr(self._executors[slot], "_processes", None) or {}).values())
        if not processes:  # not started (cannot happen after a warm-up): the job's own failure still tells
            return
        process = processes[0]
        self._exited[slot].clear()
        self._sentinels[slot] = process.sentinel
        asyncio.get_running_loop().add_reader(process.sentinel, self._on_exit, slot)

    def _unwatch(self, slot: int) -> None:
        sentinel, self._sentinels[slot] = self._sentinels[slot], None
        if sentinel is not None:
            asyncio.get_running_loop().remove_reader(sentinel)

    def _on_exit(self, slot: int) -> None:
        self._unwatch(slot)  # readable from now on: one call is enough
        self._exited[slot].set()

    async def start(self) -> None:
        """Start the workers; the first alone, so that shared caches it fills are ready for the others."""
        self._executors = [self._new_executor() for _ in range(self.size)]
        try:
            first = await self._warm(self._executors[0])
            rest = await asyncio.gather(*(self._warm(e) for e in self._executors[1:]))
        except BaseException:
            self._closed = True
            for executor in self._executors:
                executor.shutdown(wait=False, cancel_futures=True)
            raise
        self._pids = [first, *rest]
        for slot in range(self.size):
            self._watch(slot)
        self._consumers = [asyncio.create_task(self._consume(slot)) for slot in range(self.size)]

    @property
    def pids(self) -> list[int]:
        return list(self._pids)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    @property
    def healthy(self) -> bool:
        """Whether some worker can take a job: started, not being replaced, not stopped, and not stuck in a job
        past its deadline. A health check reports this, so a load balancer sees a pool that cannot serve."""
        return not self._closed and any(self._slot_ok(slot) for slot in range(len(self._pids)))

    async def share_catalog(self, folder: Path) -> None:
        """Nothing to do: these workers read the catalog folder itself."""

    async def share_votes(self, votes: Votes) -> None:
        """Kept here, for a worker that answers a job `stale` (core.compute.contract.stale_generation)."""
        self._votes = votes

    async def _execute(self, slot: int, job: Job[Any]) -> Any:
        """The job's answer from the slot's worker; one that had not learned the votes asked for gets them and runs
        the job again, in place, rather than the job going back through the queue."""
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self._executors[slot], _execute, job)
        votes = self._votes
        if votes is not None and votes.generation is not None and stale_generation(job, answer) == votes.generation:
            answer = await loop.run_in_executor(self._executors[slot], _execute, with_votes(job, votes))
        return answer

    @property
    def trouble(self) -> str | None:
        return None if self.healthy else "no worker can take a job"

    def _slot_ok(self, slot: int) -> bool:
        started = self._busy_since[slot]
        if self._replacing[slot] or (started is not None and time.monotonic() - started > self.job_timeout_s):
            return False
        return _can_run(self._pids[slot])

    async def withdraw(self, owner: str) -> None:
        """Nothing to take out: waiting jobs live in this process's memory only, and the service writes nothing
        of a person deleted while their job waited."""

    async def forget_votes(self) -> None:
        self._votes = None

    def _deadline(self, job: Job[Any]) -> float:
        return job.settings.timeout_or(self.job_timeout_s)

    async def run(self, job: Job[A]) -> A:
        """Run the job in a worker. Raises ServiceError('busy') at once when the queue is full, and
        ServiceError('service.timeout') when no answer came within the job deadline (queue wait included)."""
        if self._closed:
            raise ServiceError("service.stopping")
        future: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((job, future))
        except asyncio.QueueFull:
            raise ServiceError("service.busy") from None
        try:
            # on timeout or cancellation the future is cancelled: a queued job is then skipped, and a running
            # one is ended by the consumer's own deadline
            return await asyncio.wait_for(future, self._deadline(job))
        except TimeoutError:
            raise ServiceError("service.timeout") from None

    async def _next(self, slot: int) -> tuple[Job[Any], asyncio.Future[Any]] | None:
        """The next job, or None when the slot's process exits first (while idle)."""
        if self._exited[slot].is_set():
            return None
        getting = asyncio.ensure_future(self._queue.get())
        exiting = asyncio.ensure_future(self._exited[slot].wait())
        try:
            await asyncio.wait((getting, exiting), return_when=asyncio.FIRST_COMPLETED)
        finally:
            exiting.cancel()
            getting.cancel()  # a get that has not taken its job yet leaves it in the queue
        return getting.result() if getting.done() and not getting.cancelled() else None

    async def _consume(self, slot: int) -> None:
        while True:
            job = await self._next(slot)
            if self._exited[slot].is_set():  # died while idle: replaced before it takes (or runs) a job
                log.error("worker %s (pid %s) ended while idle; replacing it", slot, self._pids[slot])
                await self._replace(slot)
            if job is None:
                continue
            request, future = job
            if future.done():  # the caller gave up while it waited
                continue
            self._busy_since[slot] = time.monotonic()
            try:
                result = await asyncio.wait_for(self._execute(slot, request), self._deadline(request))
            except TimeoutError:
                log.error("worker %s (pid %s) exceeded the %.0f s deadline in %s; replacing it",
                          slot, self._pids[slot], self._deadline(request), request.name)
                if not future.done():
                    future.set_exception(ServiceError("service.timeout"))
                self._kill(slot)
                await self._replace(slot)
            except BrokenProcessPool:
                log.error(
                    "worker %s (pid %s) died during %s; replacing it", slot, self._pids[slot], request.name
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
                if not future.done():
                    future.set_exception(failure(request.name, err))
            else:
                if not future.done():
                    future.set_result(result)
            finally:
                self._busy_since[slot] = None

    def _kill(self, slot: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pids[slot], signal.SIGKILL)  # a stopped process dies too

    async def _replace(self, slot: int) -> None:
        self._replacing[slot] = True
        self._unwatch(slot)
        try:
            self._executors[slot].shutdown(wait=False, cancel_futures=True)
            self.replaced += 1
            while not self._closed:
                self._executors[slot] = self._new_executor()
                try:
                    # a replacement that hangs while it starts is given up on too
                    self._pids[slot] = await asyncio.wait_for(self._warm(self._executors[slot]),
                                                              max(self.job_timeout_s, 120.0))
                    self._watch(slot)
                    return
                except (BrokenProcessPool, TimeoutError, FffusionError):
                    log.error("replacement worker %s failed to start; retrying", slot)
                    for pid in list(getattr(self._executors[slot], "_processes", None) or ()):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    self._executors[slot].shutdown(wait=False, cancel_futures=True)
                    await asyncio.sleep(1)
        finally:
            self._replacing[slot] = False

    async def close(self) -> None:
        """Stop taking work; queued jobs fail with a message, running ones are given up on."""
        self._closed = True
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(ServiceError("service.stopping"))
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        for slot in range(len(self._sentinels)):
            self._unwatch(slot)
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)
        # Workers exit once their current job ends; a stopped or hung one never would, so it is killed.
        deadline = time.monotonic() + KILL_GRACE_S
        while time.monotonic() < deadline:
            states = [_proc_state(pid) for pid in self._pids]
            if all(state in _GONE for state in states):
                return
            if any(state in _STOPPED for state in states):
                break
            await asyncio.sleep(0.05)
        for slot, pid in enumerate(self._pids):
            if _proc_state(pid) not in _GONE:
                self._kill(slot)
