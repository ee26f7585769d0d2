"""A worker process's arq consumer: the jobs of core/compute/contract.py, each registered with arq under its name
and settings, run with the process's runtime context in arq's `ctx`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arq.worker import func
from redis.exceptions import RedisError

from core.compute.contract import JOBS, Job, stale_generation, with_votes
from core.compute.local import failure
from core.compute.redis import results
from core.compute.redis.arq_private import NudgedWorker
from core.compute.redis.common import (
    HEARTBEAT_S,
    HUNG_EXIT_S,
    QUEUE,
    RECONNECT_S,
    RESULT_KEEP_S,
    connect,
    done_channel,
    shared_votes,
)
from core.compute.runtime import Context
from core.errors import ConfigError, FffusionError, ServiceError

log = logging.getLogger(__name__)

def _without_arguments(data: dict[str, Any]) -> bytes:
    """A worker's serializer, which arq uses only for results: arq stores a job's arguments again beside its
    result, a face record (about 40 KB) each way more; the asking instance has them."""
    return pickle.dumps({**data, "a": ()}, protocol=pickle.HIGHEST_PROTOCOL)



def _threaded(runner: ThreadPoolExecutor, name: str, timeout_s: float) -> Callable[..., Any]:
    """The arq function of the job `name`: runs the request with the process's runtime context (arq's ctx) in its
    one compute thread, so the event loop (arq's in-progress marks, the nudges) stays responsive; a result image
    the job asks to keep goes to the shared results cache, not into the answer. A job past its deadline cannot be
    stopped inside native code: it fails with the timeout message and the process exits once arq has stored that,
    to be replaced by the supervisor."""

    async def run(ctx: dict[str, Any], job: Job[Any]) -> Any:
        runtime: Context = ctx["runtime"]
        answer = await execute(runtime, job)
        generation = stale_generation(job, answer)
        if generation is not None:  # the worker learns the votes shared for the job, and answers in this trip
            votes = await shared_votes(ctx["redis"], generation)
            if votes is not None:
                answer = await execute(runtime, with_votes(job, votes))
        return await results.kept(ctx["redis"], job, answer)

    async def execute(runtime: Context, job: Job[Any]) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(runner.submit(runtime.execute, job)), timeout_s)
        except TimeoutError:
            log.error("worker pid %s exceeded the %.0f s deadline in %s; exiting to be replaced",
                      os.getpid(), timeout_s, name)
            asyncio.get_running_loop().call_later(HUNG_EXIT_S, os._exit, 70)
            raise ServiceError("service.timeout") from None
        except FffusionError:
            raise
        except Exception as err:
            raise failure(name, err) from None

    run.__qualname__ = name
    return run


async def _announce(ctx: dict[str, Any]) -> None:
    """After arq stored the result: tell the waiting instance."""
    job_id = ctx["job_id"]
    with contextlib.suppress(OSError, RedisError):
        await ctx["redis"].publish(done_channel(job_id), job_id)


async def consume(url: str, runtime: Context, job_timeout_s: float, poll_s: float) -> None:
    """One worker process's arq consumer, until SIGTERM: jobs still running then are run again elsewhere. A lost
    Redis ends only the consumer: it connects again while the process, with its models loaded, carries on."""
    logging.getLogger("arq").setLevel(max(logging.WARNING, log.getEffectiveLevel()))  # one line per job is noise
    runner = ThreadPoolExecutor(1, thread_name_prefix="compute")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    lost = False
    try:
        while not stop.is_set():
            try:
                await _consume_once(url, runtime, runner, job_timeout_s, poll_s, stop)
                lost = False
            except (OSError, RedisError, ConfigError) as err:  # ConfigError: connect() found Redis unreachable
                if not lost:
                    log.warning("worker pid %s lost Redis (%s); connecting again every %.0f s without reloading "
                                "its models", os.getpid(), err, RECONNECT_S)
                lost = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_S)
    finally:
        runner.shutdown(wait=False, cancel_futures=True)


async def _consume_once(url: str, runtime: Context, runner: ThreadPoolExecutor, job_timeout_s: float,
                        poll_s: float, stop: asyncio.Event) -> None:
    """arq's consumer on one Redis connection, until `stop` or until the connection fails (raised). Every job of
    the contract is an arq function of its name, with the timeout and tries its registration declares."""
    redis = await connect(url)
    limits = runtime.config.limits
    tries = max(1, limits.job_tries)
    timeouts = {name: job.settings.timeout_or(job_timeout_s) for name, job in JOBS.items()}
    worker = NudgedWorker(
        functions=[func(_threaded(runner, name, timeouts[name]), name=name, max_tries=job.settings.tries_or(tries),
                        timeout=timeouts[name] + HUNG_EXIT_S + 1)  # the job's own deadline (in _threaded) first
                   for name, job in JOBS.items()],
        redis_pool=redis,
        queue_name=QUEUE,
        ctx={"runtime": runtime},
        # one job waiting beside the running one hides the gap between two jobs without hoarding the queue
        max_jobs=2,
        keep_result=RESULT_KEEP_S,
        poll_delay=poll_s,
        max_tries=tries,
        health_check_interval=HEARTBEAT_S,
        after_job_end=_announce,
        job_serializer=_without_arguments,
        handle_signals=False,
        log_results=False,
    )
    # arq's default adds 10 s; one mark for every job, so the longest one's
    worker.in_progress_timeout_s = max(timeouts.values()) + limits.job_rerun_after_s
    running = asyncio.create_task(worker.async_run(), name="arq-worker")
    nudges = asyncio.create_task(worker.nudged(), name="arq-nudges")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # the worker ended by itself (Redis went away): say why
    finally:
        stopping.cancel()
        nudges.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await nudges
        worker.handle_sig(signal.SIGTERM)  # running jobs are cancelled: arq runs them again elsewhere
        with contextlib.suppress(asyncio.CancelledError, OSError, RedisError):
            await running
        if stop.is_set():
            await worker.close()  # takes the heartbeat away at once
        else:  # Redis is gone: nothing to tell it; only the connections go
            with contextlib.suppress(OSError, RedisError):
                await redis.aclose()

