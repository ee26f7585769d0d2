"""The core service with real images, real models, real worker processes and a real SQLite file."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from core.compute.contract import WorkerConfig
from core.compute.local import WorkerPool
from core.errors import InputError, ServiceError
from core.faces.base import SourceFace
from core.faces.dlib_engine import DlibEngine
from core.images import decode_image
from core.recommend.feedback import FeedbackSettings
from core.service.service import MemeService, Person
from core.service.store import StoredFace
from tests.faceutil import identity_distance
from tests.jobs import Sleep, WithSleep

ALICE = Person("telegram", "1001")
BOB = Person("telegram", "1002")


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Every test that takes `service` or `service_factory` runs on both stores."""
    return request.param


def _jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        return img.size


async def test_register_make_next_delete(service: MemeService, photo_a: bytes) -> None:
    registered = await service.register_face(ALICE, photo_a)
    assert registered.name == "기본" and registered.is_default and registered.notices == ()
    assert identity_distance(registered.crop_jpeg, photo_a) < 0.6  # the crop shows the person

    first = await service.make_meme(ALICE, "아 진짜 웃겨 ㅋㅋㅋ")
    assert first.meme_id == "chandler-laugh" and first.swapped and first.notice is None
    assert max(_jpeg_size(first.image)) <= service.limits.max_output_side
    original = await service.make_meme(BOB, "아 진짜 웃겨 ㅋㅋㅋ")
    assert original.meme_id == first.meme_id and not original.swapped
    # The swap moved the meme's face toward the registered person.
    assert identity_distance(first.image, photo_a) < identity_distance(original.image, photo_a) - 0.1

    second = await service.next_meme(ALICE, first.request_id)
    assert second.meme_id != first.meme_id and second.rank > first.rank and second.request_id == first.request_id

    # The same sentence again brings a meme this person has not just seen.
    again = await service.make_meme(ALICE, "아 진짜  웃겨 ㅋㅋㅋ")
    assert again.meme_id not in {first.meme_id, second.meme_id}

    await service.store.remember_upload("media", first.result_key, "first-file")
    await service.store.remember_upload("media", original.result_key, "bobs-original")
    forgotten: list[tuple[str, str]] = []

    async def forget(uploads: list[tuple[str, str]]) -> None:
        forgotten.extend(uploads)

    service.forget_uploads.append(forget)
    assert await service.delete_person(ALICE) is True
    assert forgotten == [("media", "first-file")]  # only what carried Alice's face
    assert await service.store.uploaded("media", first.result_key) is None
    assert await service.store.uploaded("media", original.result_key) == "bobs-original"
    assert await service.list_faces(ALICE) == []
    after = await service.make_meme(ALICE, "아 진짜 웃겨 ㅋㅋㅋ")
    assert not after.swapped and after.notice == "face.not_registered"
    assert await service.delete_person(Person("telegram", "nobody")) is False


async def test_without_a_face_the_original_comes_with_a_hint(service: MemeService, photo_a: bytes) -> None:
    result = await service.make_meme(BOB, "너무 졸려 죽겠다")
    assert result.meme_id == "rachel-sleepy" and not result.swapped
    assert result.notice == "face.not_registered"
    with pytest.raises(InputError) as caught:
        await service.next_meme(BOB, "no-such-request")
    assert caught.value.key == "meme.request_unknown"


async def test_everything_survives_a_restart(service_factory, tmp_path: Path, photo_a: bytes) -> None:
    data_dir = tmp_path / "persist"
    first = await service_factory(data_dir)
    await first.register_face(ALICE, photo_a, name="회사용")
    made = await first.make_meme(ALICE, "아 진짜 웃겨 ㅋㅋㅋ", face="회사용")
    assert made.swapped
    await first.store.remember_upload("telegram", made.result_key, "file-123")
    await first.close()

    second = await service_factory(data_dir)
    try:
        assert await second.list_faces(ALICE) == ["회사용"]
        assert await second.store.schema_version() >= 1
        assert await second.store.uploaded("telegram", made.result_key) == "file-123"
        following = await second.next_meme(ALICE, made.request_id)
        assert following.meme_id != made.meme_id
        assert following.notice != "face.not_registered"  # the registered face is still in use
        again = await second.make_meme(ALICE, "아 진짜 웃겨 ㅋㅋㅋ", face="회사용")
        assert again.swapped and again.meme_id not in {made.meme_id, following.meme_id}
    finally:
        await second.close()


async def test_people_never_get_each_others_face(service: MemeService, photo_a: bytes, photo_b: bytes) -> None:
    people = [Person("discord", str(n)) for n in range(10)]
    photos = {p: (photo_a if n % 2 == 0 else photo_b) for n, p in enumerate(people)}
    await asyncio.gather(*(service.register_face(p, photos[p]) for p in people))
    sentences = ["아 진짜 웃겨 ㅋㅋㅋ", "역시 내가 최고지 잘난 척 좀 할게"]
    jobs = [(p, s) for p in people for s in sentences]  # 20 requests from 10 people at once
    results = await asyncio.gather(*(service.make_meme(p, s) for p, s in jobs))
    assert len(results) == 20
    for (person, _), result in zip(jobs, results, strict=True):
        assert result.swapped
        own = identity_distance(result.image, photos[person])
        other = identity_distance(result.image, photo_b if photos[person] is photo_a else photo_a)
        assert own < other, (person, result.meme_id, own, other)


async def test_a_new_persons_first_messages_may_arrive_together(service: MemeService) -> None:
    newcomer = Person("telegram", "first-contact")
    results = await asyncio.gather(*(service.make_meme(newcomer, "배고파 죽겠다") for _ in range(4)))
    assert len({r.request_id for r in results}) == 4


async def test_face_limits_and_bad_photos(service: MemeService, photo_a: bytes) -> None:
    with pytest.raises(InputError) as caught:
        await service.register_face(ALICE, b"definitely not an image")
    assert caught.value.key == "image.not_image"
    blank = io.BytesIO()
    Image.new("RGB", (400, 300), (120, 160, 200)).save(blank, "JPEG")
    with pytest.raises(InputError) as caught:
        await service.register_face(ALICE, blank.getvalue())
    assert caught.value.key == "face.none"
    with pytest.raises(InputError) as caught:
        await service.register_face(ALICE, b"x" * (service.limits.max_image_bytes + 1))
    assert caught.value.key == "image.too_big_bytes"
    for n in range(service.limits.max_faces_per_person):
        await service.register_face(ALICE, photo_a, name=f"얼굴{n}")
    with pytest.raises(InputError) as caught:
        await service.register_face(ALICE, photo_a, name="하나 더")
    assert caught.value.key == "face.too_many"
    with pytest.raises(InputError) as caught:
        await service.make_meme(ALICE, "배고파", face="없는얼굴")
    assert caught.value.key == "face.unknown_name"
    with pytest.raises(InputError) as caught:
        await service.make_meme(ALICE, "   ")
    assert caught.value.key == "text.empty"


async def test_results_are_cached(service: MemeService, photo_a: bytes) -> None:
    await service.register_face(ALICE, photo_a)
    first = await service.make_meme(ALICE, "배고파 죽겠다")
    other = await service.make_meme(Person("kakao", "x"), "배고파 죽겠다")
    assert other.result_key != first.result_key  # no face vs a face: different results
    loop = asyncio.get_running_loop()
    start = loop.time()
    again = await service.next_meme(ALICE, first.request_id)
    await service.delete_person(ALICE)
    await service.register_face(ALICE, photo_a)
    same = await service.make_meme(ALICE, "배고파 죽겠다")
    assert same.result_key == first.result_key and same.image == first.image
    assert again.meme_id != first.meme_id and loop.time() - start < 60


async def test_rate_limit(worker_config: WorkerConfig, shared_pool: WorkerPool, tmp_path: Path) -> None:
    limits = dataclasses.replace(worker_config.limits, rate_per_minute=3)
    service = MemeService(dataclasses.replace(worker_config, limits=limits), tmp_path, pool=shared_pool)
    await service.start()
    try:
        for _ in range(3):
            await service.make_meme(ALICE, "배고파")
        with pytest.raises(ServiceError) as caught:
            await service.make_meme(ALICE, "배고파")
        assert caught.value.key == "service.rate_limited" and caught.value.params["seconds"] >= 1
        await service.make_meme(BOB, "배고파")  # others are not slowed down
    finally:
        await service.close()


async def test_queue_full_and_a_killed_worker(worker_config: WorkerConfig, tmp_path: Path) -> None:
    limits = dataclasses.replace(worker_config.limits, queue_length=2)
    config = dataclasses.replace(worker_config, limits=limits)
    pool = WorkerPool(1, limits.queue_length, WithSleep(config), limits.job_timeout_s)
    await pool.start()  # made here, so started and closed here
    service = MemeService(config, tmp_path, pool=pool)
    await service.start()
    try:
        outcomes = await asyncio.gather(
            *(service.make_meme(Person("t", str(n)), "배고파 죽겠다") for n in range(8)), return_exceptions=True
        )
        busy = [o for o in outcomes if isinstance(o, ServiceError) and o.key == "service.busy"]
        done = [o for o in outcomes if not isinstance(o, BaseException)]
        assert busy and done and len(busy) + len(done) == 8

        # Kill the only worker in the middle of a long job: that job fails clearly, the pool heals.
        (pid,) = pool.pids
        job = asyncio.create_task(pool.run(Sleep(30)))
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ServiceError) as caught:
            await job
        assert caught.value.key == "service.worker_died"
        assert (await service.make_meme(ALICE, "너무 졸려 죽겠다")).meme_id == "rachel-sleepy"
        assert service.pool.replaced == 1 and service.pool.pids != [pid]
    finally:
        await service.close()
        await pool.close()


async def test_a_meme_that_takes_the_face_beats_an_equal_one_that_cannot(
    worker_config: WorkerConfig, tmp_path: Path, photo_a: bytes
) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    t1 = "package:insightface/data/images/t1.jpg"
    # Same caption, so the same score: Joey's head is turned too far for photo_a, Chandler's is not.
    (catalog / "catalog.toml").write_text(
        f'[[meme]]\nid = "turned"\nimage = "{t1}"\ncrop = [799, 0, 270, 299]\ncaption = "너무 웃겨서 빵 터졌다."\n\n'
        f'[[meme]]\nid = "frontal"\nimage = "{t1}"\ncrop = [664, 302, 227, 258]\ncaption = "너무 웃겨서 빵 터졌다."\n',
        encoding="utf-8",
    )
    service = MemeService(dataclasses.replace(worker_config, catalog_dir=catalog), tmp_path / "data", workers=1)
    await service.start()
    try:
        stranger = await service.make_meme(BOB, "아 진짜 웃겨 빵 터졌어")
        assert stranger.meme_id == "turned"  # without a face the ranking alone decides
        await service.register_face(ALICE, photo_a)
        result = await service.make_meme(ALICE, "아 진짜 웃겨 빵 터졌어")
        assert result.meme_id == "frontal" and result.swapped
        turned = await service.next_meme(ALICE, result.request_id)
        assert turned.meme_id == "turned" and not turned.swapped and turned.notice == "swap.pose_mismatch"
    finally:
        await service.close()


async def test_skips_teach_the_ranking_without_one_person_flooding_it(
    worker_config: WorkerConfig, tmp_path: Path
) -> None:
    sentence, best = "눈치 보여", "mind-game"  # the second meme is near: a few voices can move it

    async def top_for(service: MemeService, newcomer: str) -> str:
        return (await service.make_meme(Person("t", newcomer), sentence)).meme_id

    service = MemeService(worker_config, tmp_path, workers=1, feedback=FeedbackSettings(refresh_s=0))
    await service.start()
    try:
        assert await top_for(service, "first-look") == best
        flooder = Person("t", "flooder")
        for _ in range(6):  # one person pressing "다른 짤" again and again is still one voice
            shown = await service.make_meme(flooder, sentence)
            await service.next_meme(flooder, shown.request_id)
        assert await top_for(service, "after-one") == best
        for name in ("second", "third", "fourth"):
            other = Person("t", name)
            shown = await service.make_meme(other, sentence)
            assert shown.meme_id == best
            await service.next_meme(other, shown.request_id)
        assert await top_for(service, "after-four") != best  # people agreeing move it
    finally:
        await service.close()

    # Switched off, the same store changes nothing.
    unlearned = MemeService(worker_config, tmp_path, workers=1, feedback=FeedbackSettings(enabled=False))
    await unlearned.start()
    try:
        assert await top_for(unlearned, "newcomer") == best
    finally:
        await unlearned.close()


async def test_an_older_engines_record_is_reanalysed_once_and_stored(service: MemeService, photo_a: bytes) -> None:
    """Someone registered before an engine change: their record is re-analysed by the worker on its first use and
    written back to the store in place of the old one (no worker keeps it), so the next request uses it as it is."""
    old = DlibEngine().make_source(decode_image(photo_a, service.limits))[0]
    person_id = await service.store.ensure_person(ALICE.platform, ALICE.user_id)
    await service.store.save_face(person_id, StoredFace("기본", old.engine_key, old.to_bytes(), b""), make_default=True)
    make, upgrades = service.jobs.make, []

    async def watched(*args, **kwargs):  # what each request's job handed back
        made = await make(*args, **kwargs)
        upgrades.append(made.composed.upgraded)
        return made

    service.jobs.make = watched  # type: ignore[method-assign]
    first = await service.make_meme(ALICE, "아 진짜 웃겨 ㅋㅋㅋ")
    assert first.swapped and identity_distance(first.image, photo_a) < 0.6
    stored = await service.store.face(person_id, None)
    assert stored is not None and stored.record == upgrades[0].record and stored.engine == upgrades[0].engine
    assert SourceFace.from_bytes(stored.record).engine_key == stored.engine != old.engine_key
    second = await service.make_meme(ALICE, "시험 망했어")
    assert second.swapped and upgrades[1] is None  # used as stored: not re-analysed again
    assert (await service.store.face(person_id, None)).record == stored.record
