"""`fffusion worker`: worker processes, each with its models loaded once into its runtime context and its own arq
consumer, so a job goes from Redis straight to the process that runs it; a process that dies is replaced."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from core.compute.contract import WorkerConfig
from core.compute.local import KILL_GRACE_S, die_with
from core.compute.redis.common import SUPERVISE_S, connect
from core.compute.redis.consumer import consume
from core.compute.runtime import start
from core.errors import FffusionError, ServiceError
from core.loop import run as run_loop
from core.service import catalogs

log = logging.getLogger(__name__)


def _process(parent: int, level: int, config: WorkerConfig, url: str, job_timeout_s: float, poll_s: float,
             started: Connection) -> None:
    """A worker process: load the models, say so (or why not), then consume the queue."""
    die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the parent stops this one
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        runtime = start(config, catalogs.SharedCatalogs(url, config.cache_dir))
    except FffusionError as err:
        started.send(err)
        return
    started.send(os.getpid())
    started.close()
    run_loop(consume(url, runtime, job_timeout_s, poll_s))


async def run_worker(
    config: WorkerConfig,
    url: str,
    processes: int,
    job_timeout_s: float,
    poll_s: float,
    stop: asyncio.Event,
    ready: Callable[[list[int]], None] | None = None,
) -> None:
    """`fffusion worker`: `processes` worker processes, each with its models loaded once and its own arq consumer
    (a job goes straight from Redis to the process that runs it), kept running until `stop`: one that dies (a
    crash, the OOM killer, a job past its deadline) is replaced, and the job it held runs again elsewhere."""
    await (await connect(url)).aclose()  # fail fast on a bad URL, before the models load
    context = multiprocessing.get_context("spawn")  # forking a process with threads and an event loop is unsafe
    level = log.getEffectiveLevel()

    async def launch() -> BaseProcess:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_process, name="fffusion-worker", daemon=True,
                                  args=(os.getpid(), level, config, url, job_timeout_s, poll_s, send))
        process.start()
        send.close()
        try:
            said = await asyncio.get_running_loop().run_in_executor(None, _hear, receive, process)
        finally:
            receive.close()
        if isinstance(said, FffusionError):
            raise said
        return process

    first = await launch()  # alone: it fills the shared caches the others then read
    children = [first, *await asyncio.gather(*(launch() for _ in range(processes - 1)))]
    try:
        if ready is not None:
            ready([p.pid or 0 for p in children])
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SUPERVISE_S)
            for slot, process in enumerate(children):
                if not process.is_alive() and not stop.is_set():
                    log.error("worker process %s ended (exit code %s); replacing it", process.pid, process.exitcode)
                    try:
                        children[slot] = await launch()
                    except FffusionError as err:  # tried again on the next round
                        log.error("replacement worker process failed to start: %s", err)
    finally:
        for process in children:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + KILL_GRACE_S
        for process in children:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def _hear(receive: Connection, process: BaseProcess) -> int | FffusionError:
    """What a starting worker process says: its pid once its models are loaded, or the error that stopped it."""
    while not receive.poll(0.5):
        if not process.is_alive():
            return ServiceError("service.worker_died")
    try:
        said: int | FffusionError = receive.recv()
        return said
    except EOFError:
        return ServiceError("service.worker_died")
