"""The one way the project runs an event loop: uvloop where it is installed, else asyncio's own.

uvloop spends far less CPU on the socket work that dominates a bot instance and a queue worker (Redis, PostgreSQL,
HTTP): on 2 cores it moved 2 queue workers from 40 to 43 memes a second (bench/scale.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # Windows, or an install without it
        return asyncio.run(main)
    return uvloop.run(main)
