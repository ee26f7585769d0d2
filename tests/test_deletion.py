"""A deletion wins over everything in flight for that person: after delete_person returns, nothing of theirs
is written, cached or handed out, and a newcomer never inherits their id (the adversarial run saw Alice's
in-flight result saved as Bob's, 5 times of 5, with a render slowed to 0.5 s)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from core.compute.contract import WorkerConfig, meme_result_key
from core.compute.local import WorkerPool
from core.errors import InputError, ServiceError
from core.service.service import MemeService, Person

HUNGRY = "배고파 죽겠다"
TABLES = ("faces", "requests", "history", "feedback", "results")


def _rows_of(db_path: Path, person_id: int) -> dict[str, int]:
    db = sqlite3.connect(db_path)
    try:
        counts = {t: db.execute(f"SELECT count(*) FROM {t} WHERE person=?", (person_id,)).fetchone()[0]
                  for t in TABLES}
        counts["people"] = db.execute("SELECT count(*) FROM people WHERE id=?", (person_id,)).fetchone()[0]
        return counts
    finally:
        db.close()


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.25, 0.35, 0.45])
async def test_a_deletion_wins_over_a_slow_render_in_flight(
    service: MemeService, photo_a: bytes, delay: float
) -> None:
    make = service.jobs.make

    async def slow_make(*args, **kwargs):  # a render that takes 0.5 s, as in the reproduction
        result = await make(*args, **kwargs)
        await asyncio.sleep(0.5)
        return result

    service.jobs.make = slow_make  # type: ignore[method-assign]
    alice_ids: set[int] = set()
    for n in range(2):
        alice, bob = Person("t", f"alice-{delay}-{n}"), Person("t", f"bob-{delay}-{n}")
        await service.register_face(alice, photo_a)
        alice_id = await service.store.find_person(alice.platform, alice.user_id)
        assert alice_id is not None
        alice_ids.add(alice_id)
        record = (await service.store.face(alice_id, "기본")).record
        in_flight = asyncio.create_task(service.make_meme(alice, HUNGRY))
        await asyncio.sleep(delay)
        assert await service.delete_person(alice)
        # the newcomer's first message right after the deletion
        bobs = await service.make_meme(bob, HUNGRY)
        with pytest.raises(InputError) as caught:
            await in_flight
        assert caught.value.key == "person.deleted"
        bob_id = await service.store.find_person(bob.platform, bob.user_id)
        assert bob_id not in alice_ids and not bobs.swapped  # Bob has no face: never Alice's
        assert _rows_of(service.store.path, alice_id) == dict.fromkeys((*TABLES, "people"), 0)
        assert await service.store.find_person(alice.platform, alice.user_id) is None
        version = service.catalog_version
        assert bobs.result_key == meme_result_key(None, bobs.meme_id, "default", version, "")  # keys as served
        keys = [meme_result_key(record, meme.id, "default", version, "") for meme in service.catalog.memes]
        assert [key for key in keys if await service._results.get(key) is not None] == []
        await service.delete_person(bob)


async def test_a_message_waiting_out_a_full_queue_counts_once(worker_config: WorkerConfig, tmp_path: Path,
                                                              shared_pool: WorkerPool) -> None:
    """Each retry while the queue was full re-ran the rate check: one message came back 'too fast'."""
    limits = dataclasses.replace(worker_config.limits, rate_per_minute=2)
    service = MemeService(dataclasses.replace(worker_config, limits=limits), tmp_path, pool=shared_pool)
    await service.start()
    make = service.jobs.make
    full = {"left": 5}

    async def busy_then_make(*args, **kwargs):  # the queue is full for the first 5 tries
        if full["left"]:
            full["left"] -= 1
            raise ServiceError("service.busy")
        return await make(*args, **kwargs)

    service.jobs.make = busy_then_make  # type: ignore[method-assign]
    person = Person("t", "patient")
    try:
        for _ in range(5):
            with pytest.raises(ServiceError) as caught:
                await service.make_meme(person, HUNGRY)
            assert caught.value.key == "service.busy"
        await service.make_meme(person, HUNGRY)  # served at last: one hit
        await service.make_meme(person, "시험 망했어")  # the second message of the minute
        with pytest.raises(ServiceError) as caught:
            await service.make_meme(person, "배고파")
        assert caught.value.key == "service.rate_limited"
    finally:
        await service.close()


@pytest.mark.parametrize("store_backend", ["sqlite", "postgres"])
async def test_a_deletion_through_another_instance_wins_over_a_request_in_flight(
    service_factory, tmp_path: Path, photo_a: bytes, store_backend: str
) -> None:
    """Two instances on one store: Alice's request is in flight on one when she is deleted through the other.
    The deletion wins there too: no row comes back for her, and her face's result is not left in the cache."""
    one, two = await service_factory(tmp_path / "data"), await service_factory(tmp_path / "data")
    try:
        alice = Person("t", "alice")
        await one.register_face(alice, photo_a)
        alice_id = await one.store.find_person(alice.platform, alice.user_id)
        record = (await one.store.face(alice_id, None)).record
        make = one.jobs.make

        async def slow_make(*args, **kwargs):
            result = await make(*args, **kwargs)
            await asyncio.sleep(0.5)
            return result

        one.jobs.make = slow_make  # type: ignore[method-assign]
        in_flight = asyncio.create_task(one.make_meme(alice, HUNGRY))
        await asyncio.sleep(0.2)
        assert await two.delete_person(alice)
        with pytest.raises(InputError) as caught:
            await in_flight
        assert caught.value.key == "person.deleted"
        assert await one.store.find_person(alice.platform, alice.user_id) is None
        keys = [meme_result_key(record, meme.id, "default", one.catalog_version, "") for meme in one.catalog.memes]
        assert [key for key in keys if await one._results.get(key) is not None] == []
    finally:
        await one.close()
        await two.close()


async def test_per_person_state_stays_bounded_and_a_deletion_is_never_forgotten(
    worker_config: WorkerConfig, tmp_path: Path, shared_pool: WorkerPool, photo_a: bytes
) -> None:
    """A stream of 3,000 people (messages and deletions) against a bound of 50 leaves at most 50 entries of each
    kind of per-person state; work that began before a deletion the bound has let go still writes nothing, and the
    rate limit still holds for someone active."""
    limits = dataclasses.replace(worker_config.limits, rate_per_minute=3, people_in_memory=50)
    service = MemeService(dataclasses.replace(worker_config, limits=limits), tmp_path, pool=shared_pool)
    await service.start()
    alice, busy = Person("t", "alice"), Person("t", "busy")
    try:
        await service.register_face(alice, photo_a)
        began = service.guard.moment()  # Alice's request begins...
        assert await service.delete_person(alice)  # ...she is deleted...
        for _ in range(2):
            await service.guard.rate.check(busy)
        for n in range(3000):  # ...and 3,000 people come and go
            person = Person("t", f"stream{n}")
            await service.guard.rate.check(person)
            await service.delete_person(person)
        assert len(service.guard._deletions) <= 50 and len(service.guard._locks) == 0
        assert len(service.guard.rate._hits) <= 50  # type: ignore[attr-defined]
        with pytest.raises(InputError) as caught:  # her deletion went from memory: still nothing is written
            async with service.guard.writing(alice, began):
                await service.store.ensure_person(alice.platform, alice.user_id)
        assert caught.value.key == "person.deleted"
        assert await service.store.find_person(alice.platform, alice.user_id) is None
        # work that begins now for someone not deleted is written
        assert (await service.make_meme(Person("t", "newcomer"), HUNGRY)).image
        # the busy person, pushed out by the stream, starts a fresh window; the limit holds within it
        for _ in range(3):
            await service.guard.rate.check(busy)
        with pytest.raises(ServiceError) as limited:
            await service.guard.rate.check(busy)
        assert limited.value.key == "service.rate_limited"
    finally:
        await service.close()
