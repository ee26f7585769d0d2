"""Small values that expire (sessions and the like), where every bot instance sees them: in Redis when the instances
share one (core/service/shared.py), else in this process's memory (one instance)."""

from __future__ import annotations

import time
from typing import Protocol

from core.bounded import Bounded
from core.service.shared import PREFIX, _OnRedis


class Ephemeral(Protocol):
    async def put(self, key: str, value: str, ttl_s: float) -> None: ...

    async def get(self, key: str) -> str | None: ...

    async def delete(self, key: str) -> None: ...


class MemoryEphemeral:
    """In this process: at most `limit` values, the least recently used out first."""

    def __init__(self, limit: int = 10_000) -> None:
        self._items: Bounded[str, tuple[float, str]] = Bounded(limit)

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        self._items.put(key, (time.monotonic() + ttl_s, value))

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    async def delete(self, key: str) -> None:
        self._items.pop(key)


class RedisEphemeral(_OnRedis):
    @staticmethod
    def _key(key: str) -> str:
        return f"{PREFIX}kv:{key}"

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        await self.redis.set(self._key(key), value, px=max(1, int(ttl_s * 1000)))

    async def get(self, key: str) -> str | None:
        found = await self.redis.get(self._key(key))
        return None if found is None else found.decode()

    async def delete(self, key: str) -> None:
        await self.redis.delete(self._key(key))

    async def first(self, key: str, value: str) -> str:
        """The value stored under `key`, storing `value` (kept for good) when there is none yet."""
        # SET NX: of several instances starting at once, the first writer's value wins and all read it
        await self.redis.set(self._key(key), value, nx=True)
        found = await self.redis.get(self._key(key))
        return value if found is None else found.decode()
