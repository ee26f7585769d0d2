"""The one bounded in-memory map (core/bounded.py): by count, by weight, with expiry."""

from __future__ import annotations

import time

from core.bounded import Bounded


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
