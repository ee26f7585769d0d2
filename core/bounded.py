"""The one bounded in-memory map: least recently used out first, bounded in count or in a weight (bytes), and
optionally with entries that expire; and per-key locks that last only while they are used."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _one(_: object) -> int:
    return 1


class Bounded(Generic[K, V]):
    def __init__(self, limit: int, weigh: Callable[[V], int] = _one, ttl_s: float | None = None) -> None:
        self.limit = limit  # total weight kept; with the default weight, the number of entries
        self._weigh = weigh
        self._ttl_s = ttl_s
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._weight = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self.pop(key)
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: K, value: V) -> None:
        self.pop(key)
        expires = time.monotonic() + self._ttl_s if self._ttl_s is not None else float("inf")
        self._items[key] = (expires, value)
        self._weight += self._weigh(value)
        while self._items and (self._weight > self.limit or self._expired(next(iter(self._items)))):
            self.pop(next(iter(self._items)))

    def _expired(self, key: K) -> bool:
        """Whether the entry has expired; put() lets expired entries go from the least recently used end (where
        entries whose expiry a put() set expire first), so they do not wait for the bound to be reached."""
        return self._items[key][0] < time.monotonic()

    def pop(self, key: K) -> V | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self._weight -= self._weigh(item[1])
        return item[1] if item[0] >= time.monotonic() else None

    def drop(self, where: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if where(k)]:
            self.pop(key)


@dataclass
class _Held:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding it or waiting for it


class Locks(Generic[K]):
    """One asyncio lock per key, kept only while someone holds or waits for it: as many as keys in use."""

    def __init__(self) -> None:
        self._held: dict[K, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        held = self._held.setdefault(key, _Held())
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if not held.users:
                del self._held[key]
