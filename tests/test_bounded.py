"""The one bounded in-memory map (core/bounded.py): by count, by weight, with expiry."""

from __future__ import annotations

import asyncio
import time

from core.bounded import Bounded, Locks


def test_least_recently_used_goes_first() -> None:
    cache: Bounded[str, int] = Bounded(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_bounded_by_weight() -> None:
    cache: Bounded[str, bytes] = Bounded(10, len)
    cache.put("a", b"12345")
    cache.put("b", b"1234")
    cache.put("a", b"123456")  # replacing counts the new weight only: 4 + 6
    assert cache.get("b") == b"1234" and cache.get("a") == b"123456"
    cache.put("c", b"1")
    assert cache.get("b") is None and cache.get("c") == b"1"  # over 10: the oldest went
    cache.put("big", bytes(11))
    assert cache.get("big") is None and cache.get("c") is None  # heavier than the whole bound: nothing stays


def test_expiry_and_drop() -> None:
    cache: Bounded[tuple[int, int], str] = Bounded(10, ttl_s=0.05)
    cache.put((1, 1), "x")
    cache.put((2, 1), "y")
    cache.drop(lambda key: key[0] == 2)
    assert cache.get((1, 1)) == "x" and cache.get((2, 1)) is None
    time.sleep(0.06)
    assert cache.get((1, 1)) is None and cache.pop((1, 1)) is None


def test_expired_entries_go_without_waiting_for_the_bound() -> None:
    cache: Bounded[int, int] = Bounded(1000, ttl_s=0.05)
    for n in range(10):
        cache.put(n, n)
    time.sleep(0.06)
    cache.put(10, 10)  # the ten before it expired: they go now, not when 1000 entries are reached
    assert len(cache) == 1 and cache.get(10) == 10


async def test_a_lock_per_key_lasts_only_while_it_is_used() -> None:
    locks: Locks[str] = Locks()
    order: list[str] = []

    async def hold(key: str, name: str, seconds: float) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    first = asyncio.create_task(hold("a", "first", 0.05))
    await asyncio.sleep(0)
    together = asyncio.gather(hold("a", "second", 0), hold("b", "other", 0))
    await asyncio.sleep(0.01)
    assert len(locks) == 1  # "a", held with one waiting; "b" went when its holder left
    await asyncio.gather(first, together)
    assert order.index("first out") < order.index("second in")  # one holder of "a" at a time
    assert order.index("other out") < order.index("first out")  # "b" did not wait for "a"
    assert len(locks) == 0
    for n in range(3000):  # a stream of people leaves nothing behind
        async with locks.hold(str(n)):
            pass
    assert len(locks) == 0
