"""The one bounded in-memory map: least recently used out first, bounded in count or in a weight (bytes), and
optionally with entries that expire."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
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
        while self._weight > self.limit and self._items:
            self.pop(next(iter(self._items)))

    def pop(self, key: K) -> V | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self._weight -= self._weigh(item[1])
        return item[1] if item[0] >= time.monotonic() else None

    def drop(self, where: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if where(k)]:
            self.pop(key)
