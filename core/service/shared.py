"""State that bot instances share through Redis, so that any instance can serve any request: the per-person rate
limits, the finished-results cache and the replies a two-step command waits for. (People, faces, "다른 짤"
requests, votes and platform upload ids live in the shared database; result images served by URL in
core/service/pgmedia.py.)"""

from __future__ import annotations

import math
import secrets
import time
from typing import Protocol

from redis.asyncio import Redis

from core.compute.contract import Composed
from core.compute.redis import results
from core.errors import ServiceError
from core.service.service import Person

PREFIX = "fffusion:"
WINDOW_S = 60


class Connected(Protocol):
    """What holds the instance's one Redis connection pool (core.compute.redis.client.QueuePool), open while it runs."""

    @property
    def redis(self) -> Redis: ...


class _OnRedis:
    def __init__(self, connected: Connected) -> None:
        self._connected = connected

    @property
    def redis(self) -> Redis:
        return self._connected.redis


class RedisRateLimiter(_OnRedis):
    """The in-memory limiter's sliding one-minute window, per person, in one Redis sorted set each."""

    def __init__(self, connected: Connected, per_minute: int) -> None:
        super().__init__(connected)
        self.per_minute = per_minute

    @staticmethod
    def _key(person: Person) -> str:
        return f"{PREFIX}rate:{person.platform}:{person.user_id}"

    async def forget(self, person: Person) -> None:
        await self.redis.delete(self._key(person))

    async def take_back(self, person: Person) -> None:
        await self.redis.zpopmax(self._key(person))

    async def check(self, person: Person) -> None:
        if self.per_minute <= 0:
            return
        key = self._key(person)
        now = time.time()
        member = f"{now}:{secrets.token_hex(4)}"
        # One transaction: drop what left the window, count this hit, read the count and the oldest hit.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, 0, now - WINDOW_S)
            pipe.zadd(key, {member: now})
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.expire(key, WINDOW_S + 1)
            _, _, count, oldest, _ = await pipe.execute()
        if count > self.per_minute:
            await self.redis.zrem(key, member)  # a refused request does not count
            first = oldest[0][1] if oldest else now
            raise ServiceError("service.rate_limited", seconds=int(WINDOW_S - (now - first)) + 1)


class RedisPending(_OnRedis):
    """core.service.service.PendingReplies in Redis: one hash per person (chat -> value), kept `ttl_s` after their
    newest two-step command in any chat."""

    def __init__(self, connected: Connected, ttl_s: float) -> None:
        super().__init__(connected)
        self.ttl_s = math.ceil(ttl_s)

    @staticmethod
    def _key(person: Person) -> str:
        return f"{PREFIX}pending:{person.platform}:{person.user_id}"

    async def put(self, person: Person, chat: str, value: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(person), chat, value)
            pipe.expire(self._key(person), self.ttl_s)
            await pipe.execute()

    async def pop(self, person: Person, chat: str) -> str | None:
        """The value, taken: of two instances that read it at once, one gets it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._key(person), chat)
            pipe.hdel(self._key(person), chat)
            value, _ = await pipe.execute()
        return value.decode() if value is not None else None

    async def forget(self, person: Person) -> None:
        await self.redis.delete(self._key(person))


class RedisResultCache(_OnRedis):
    """Finished images by result key, each kept `ttl_s`: the time bounds the bytes (about the rate of new memes
    times `ttl_s` times their size). A worker on the queue puts the results it composes here itself (`keep_s`;
    core/compute/redis/results.py), so an image crosses the queue once."""

    def __init__(self, connected: Connected, ttl_s: int) -> None:
        super().__init__(connected)
        self.ttl_s = ttl_s

    @property
    def keep_s(self) -> int:
        return self.ttl_s

    async def get(self, key: str) -> Composed | None:
        return await results.get(self.redis, key)

    async def put(self, key: str, item: Composed) -> None:
        await results.put(self.redis, key, item, self.ttl_s)

    async def drop(self, keys: list[str]) -> None:
        if keys:
            await self.redis.delete(*(results.key_of(k) for k in keys))
