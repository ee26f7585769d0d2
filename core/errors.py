"""Typed user-facing failures. Each carries a message key; `core.messages` holds the texts."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class FffusionError(Exception):
    """A failure the user should hear about, in their language, never as a traceback."""

    #: exit code for the CLI: 2 = bad usage or bad input, 1 = the service could not do it
    exit_code = 2

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __str__(self) -> str:
        from core.messages import render

        return render(self.key, "en", **self.params)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword params must survive pickling across the process pool.
        return (_rebuild, (type(self), self.key, self.params))


def _rebuild(cls: type[FffusionError], key: str, params: dict[str, Any]) -> FffusionError:
    return cls(key, **params)


class InputError(FffusionError):
    """The user's text or image cannot be used as it is."""


class ConfigError(FffusionError):
    """The operator's configuration or files are wrong or missing."""


class ServiceError(FffusionError):
    """The service is busy, limited or failed; trying again later may work."""

    exit_code = 1


def explain(err: BaseException, lang: str) -> str:
    """The one mapping from a failure to what the person reads: a core error's own message in their language;
    anything else is a defect, logged with its traceback, and the person hears "internal"."""
    from core.messages import render

    if isinstance(err, FffusionError):
        return render(err.key, lang, **err.params)
    log.error("unexpected failure", exc_info=err)
    return render("internal", lang)


class Failure(StrEnum):
    """What kind of failure a reply tells about, for a platform that answers each kind its own way (an HTTP
    status, a retry)."""

    INPUT = "input"  # the person's request cannot be used as it is (or the operator's files are wrong)
    LIMITED = "limited"  # too many requests from the person: later
    BUSY = "busy"  # the queue was full or no worker was alive: the work was not started, and may be retried
    UNAVAILABLE = "unavailable"  # the service failed this time (timeout, a worker died, stopping)
    INTERNAL = "internal"  # a defect, logged


BUSY_KEYS = frozenset({"service.busy", "service.unavailable"})


def failure_of(err: BaseException) -> Failure:
    """The one rule from a failure to its kind."""
    if not isinstance(err, FffusionError):
        return Failure.INTERNAL
    if err.key == "service.rate_limited":
        return Failure.LIMITED
    if err.key in BUSY_KEYS:
        return Failure.BUSY
    return Failure.UNAVAILABLE if err.key.startswith("service.") else Failure.INPUT
