"""A job for the tests of the pools' own behaviour (deadlines, a full queue, a killed or stopped worker): it
sleeps, then answers its worker's pid. Workers run it beside the real jobs when their pool boots with WithSleep."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TypeVar, cast

from core.compute.contract import Job, WorkerConfig
from core.compute.local import Executor, Runtime

A = TypeVar("A")


@dataclass(frozen=True, repr=False)
class Sleep(Job[int], name="test.sleep"):
    seconds: float = 0.0


class _Sleeper:
    def __init__(self, runtime: Executor | None) -> None:
        self.runtime = runtime

    def execute(self, job: Job[A]) -> A:
        if isinstance(job, Sleep):
            time.sleep(job.seconds)
            return cast(A, os.getpid())
        if self.runtime is None:
            raise RuntimeError(f"this pool runs only Sleep, not {job.name}")
        return self.runtime.execute(job)


@dataclass(frozen=True)
class WithSleep:
    """A local pool's boot: Sleep, and with a config every real job on the real runtime (models loaded)."""

    config: WorkerConfig | None = None

    def __call__(self) -> Executor:
        return _Sleeper(Runtime(self.config)() if self.config is not None else None)
