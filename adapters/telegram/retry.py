"""Every Bot API call (but getUpdates, which the updater retries itself) goes through here.

Flood control (429 with retry_after) is waited out and retried: Telegram guarantees the refused call did nothing.
Network failures are retried a few times with backoff. A 400 (chat not found, message not modified) or 403
(bot blocked) is final and goes back to the caller, which logs it; nothing here stops the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

# Chat actions are cosmetic and expire in 5 s: never wait for them.
NO_RETRY = frozenset({"sendChatAction"})


def retry_after_s(err: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 returns an int with a deprecation warning, later a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


class RetryingLimiter(BaseRateLimiter[None]):
    def __init__(self, flood_retries: int = 3, max_wait_s: float = 60.0, network_retries: int = 3,
                 backoff_s: float = 0.5) -> None:
        self.flood_retries = flood_retries
        self.max_wait_s = max_wait_s  # a longer flood wait fails the call instead of holding a user's request
        self.network_retries = network_retries
        self.backoff_s = backoff_s

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        floods = failures = 0
        while True:
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as err:
                wait = retry_after_s(err)
                floods += 1
                if endpoint in NO_RETRY or floods > self.flood_retries or wait > self.max_wait_s:
                    raise
                log.warning("telegram flood control on %s: retrying in %.0f s", endpoint, wait)
                await asyncio.sleep(wait)
            except BadRequest:  # a NetworkError subclass in PTB, but final
                raise
            except NetworkError as err:
                failures += 1
                if endpoint in NO_RETRY or failures > self.network_retries:
                    raise
                log.warning("telegram %s failed (%s): retry %d", endpoint, err, failures)
                await asyncio.sleep(self.backoff_s * 2 ** (failures - 1))
