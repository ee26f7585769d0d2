"""The KakaoTalk skill over HTTP on loopback, against the real service: Open Builder's side is played by
tests/kakao/conftest.py, people's photos come from a loopback "CDN"."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from skimage import data as skdata

from bot.config import Settings
from bot.web import start_web
from core.errors import ConfigError
from core.messages import render
from core.recommend.confidence import Calibration
from core.recommend.feedback import KEEP_VOTE, NEXT_VOTE, PICK_VOTE
from core.service.service import MemeService, Person
from tests.faceutil import identity_distance
from tests.imagefiles import png_claiming
from tests.jobs import Sleep
from tests.kakao.conftest import StartBot
from tests.kakao.kakaoside import (
    SECRET,
    PhotoServer,
    image_url,
    outputs,
    quick_reply,
    secure_image,
    text_of,
)

HUNGRY, LAUGH = "배고파 죽겠다", "아 진짜 웃겨 ㅋㅋㅋ"  # memes whose faces swap well in the demo catalog


async def _distance(a: bytes, b: bytes) -> float:
    return await asyncio.to_thread(identity_distance, a, b)


def _jpeg(array: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(out, "JPEG")
    return out.getvalue()


async def test_routes_and_help(start_bot: StartBot) -> None:
    bot = await start_bot()
    s = bot.session
    async with s.get(bot.base + "/healthz") as resp:
        assert resp.status == 200 and await resp.text() == "ok\n"
    not_found = [("GET", f"/kakao/{SECRET}"), ("POST", "/kakao/wrong-secret-0123456789"),
                 ("POST", f"/kakao/{SECRET}/x"), ("POST", "/kakao/"), ("GET", "/media/"), ("GET", "/media/x.jpg"),
                 ("GET", "/media/..%2F..%2Fetc%2Fpasswd"), ("GET", "/nothing")]
    for method, path in not_found:
        async with s.request(method, bot.base + path, json={}) as resp:
            assert resp.status == 404, (method, path)
    answer = await bot.say("help-user", "도움말")
    assert text_of(answer) == render("kakao.help", "ko") and len(text_of(answer).splitlines()) == 5
    assert text_of(await bot.say("help-user", "help")) == render("kakao.help", "ko")


async def test_meme_without_face_is_the_original_with_a_hint(start_bot: StartBot) -> None:
    bot = await start_bot()
    answer = await bot.final("newcomer", "시험 완전 망했어")
    assert render("face.not_registered", "ko") in text_of(answer)
    assert (await bot.image(answer))[:2] == b"\xff\xd8"
    async with bot.session.head(image_url(answer)) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
        # a person's image: no shared cache keeps it past a deletion
        assert resp.headers["Cache-Control"] == "private, no-store"


async def test_setface_meme_and_next(
    start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes, service: MemeService
) -> None:
    bot = await start_bot()
    photo_server.files["a.jpg"] = photo_a
    # the plugin may deliver several URLs: only the first is downloaded
    urls = secure_image(photo_server.url("a.jpg"), photo_server.url("x"))
    reg = await bot.final("alice", "/setface", params=urls)
    assert photo_server.hits == ["/a.jpg"]
    assert render("kakao.face_saved", "ko", name="기본") in text_of(reg)
    assert await _distance(await bot.image(reg), photo_a) < 0.6

    first = await bot.final("alice", HUNGRY)
    meme = await bot.image(first)
    assert "alice" not in image_url(first) and image_url(first).startswith(bot.base + "/media/")
    assert await _distance(meme, photo_a) < 0.6
    assert render("face.not_registered", "ko") not in text_of(first)
    reply = quick_reply(first, render("meme.next_label", "ko"))
    assert reply["extra"]["request_id"]
    second = await bot.final("alice", reply["messageText"], extra=reply["extra"])
    # one press, one vote against the meme that was skipped; the one shown next counts as kept until skipped
    votes = {service.catalog.by_id[v.meme_id].caption: v.vote for v in await service.learning.recent(10)}
    assert len(votes) == 2 and [votes[c] for c in votes if c in text_of(first)] == [NEXT_VOTE]
    assert [votes[c] for c in votes if c in text_of(second)] == [KEEP_VOTE]
    assert image_url(second) != image_url(first) and await bot.image(second) != meme
    # a bare "다른 짤" (no clientExtra reached the skill) continues from the person's last request
    third = await bot.final("alice", render("meme.next_label", "ko"))
    assert image_url(third) not in (image_url(first), image_url(second))


async def test_deleteface_asks_first_and_then_forgets_everything(
    start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes, service: MemeService
) -> None:
    bot = await start_bot()
    photo_server.files["a.jpg"] = photo_a
    await bot.final("dana", "/setface", params=secure_image(photo_server.url("a.jpg")))
    swapped = await bot.image(await bot.final("dana", HUNGRY))
    yes_label, no_label = render("delete.yes", "ko"), render("delete.no", "ko")

    for asking in ("/deleteface", "얼굴 삭제"):
        confirm = await bot.final("dana", asking)
        assert text_of(confirm) == render("delete.confirm", "ko")
        no = quick_reply(confirm, no_label)
        cancelled = await bot.final("dana", no["messageText"], extra=no["extra"])
        assert text_of(cancelled) == render("delete.cancelled", "ko")
        assert await service.list_faces(Person("kakao", "dana")) == ["기본"]

    # typing the button's words is a sentence like any other, never a confirmation
    typed = await bot.final("dana", yes_label)
    assert image_url(typed) and await service.list_faces(Person("kakao", "dana")) == ["기본"]

    yes = quick_reply(await bot.final("dana", "/deleteface"), yes_label)
    assert yes["extra"] != no["extra"]
    done = await bot.final("dana", yes["messageText"], extra=yes["extra"])
    assert text_of(done) == render("kakao.delete.done", "ko")
    assert await service.list_faces(Person("kakao", "dana")) == []
    again = await bot.final("dana", yes["messageText"], extra=yes["extra"])
    assert text_of(again) == render("delete.nothing", "ko")
    after = await bot.final("dana", HUNGRY)
    assert render("face.not_registered", "ko") in text_of(after) and await bot.image(after) != swapped


async def test_two_people_never_get_each_others_face(
    start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes, photo_b: bytes
) -> None:
    bot = await start_bot()
    photo_server.files.update({"a.jpg": photo_a, "b.jpg": photo_b})
    await asyncio.gather(
        bot.final("alice", "/setface", params=secure_image(photo_server.url("a.jpg"))),
        bot.final("bob", "/setface", params=secure_image(photo_server.url("b.jpg")), detail=True),
    )
    for_a, for_b = await asyncio.gather(bot.final("alice", LAUGH), bot.final("bob", LAUGH))
    meme_a, meme_b = await bot.image(for_a), await bot.image(for_b)
    assert image_url(for_a) != image_url(for_b)
    assert await _distance(meme_a, photo_a) < min(0.6, await _distance(meme_a, photo_b))
    # the astronaut's swap carries less identity (greyish, tilted source), but it is hers, never Alice's
    assert await _distance(meme_b, photo_b) < await _distance(meme_b, photo_a)


async def test_callback_when_the_budget_runs_out(
    start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes
) -> None:
    bot = await start_bot(kakao_budget_s=0.001)  # nothing finishes in 1 ms: every meme goes by callback
    photo_server.files["a.jpg"] = photo_a
    callback = photo_server.callback_url()
    photo = secure_image(photo_server.url("a.jpg"))
    reg_ack = await bot.say("carol", "/setface", params=photo, callback=callback)
    assert reg_ack == {"version": "2.0", "useCallback": True, "data": {"text": render("kakao.working", "ko")}}
    assert render("kakao.face_saved", "ko", name="기본") in text_of(await photo_server.callback(callback))

    callback = photo_server.callback_url()
    ack = await bot.say("carol", HUNGRY, callback=callback)
    assert ack["useCallback"] is True
    final = await photo_server.callback(callback)
    assert await _distance(await bot.image(final), photo_a) < 0.6
    await asyncio.sleep(0.3)
    assert len(photo_server.callbacks[callback.rsplit("/", 1)[1]]) == 1  # a callback URL works once

    # without a callbackUrl the block must still answer in time: a "try again" text
    assert text_of(await bot.say("carol", "배고파")) == render("kakao.slow", "ko")


async def test_bad_input_gets_a_text_and_the_server_keeps_serving(
    start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes
) -> None:
    bot = await start_bot()
    s = bot.session
    for body in (b"not json", b'{"action": {}}', b'{"userRequest": {"utterance": "hi"}}'):
        async with s.post(bot.skill_url, data=body) as resp:
            assert resp.status == 400
            assert "Traceback" not in await resp.text()

    photo_server.files.update({
        "a.jpg": photo_a,
        "doc.jpg": b"%PDF-1.4\n" + b"0" * 500,
        "huge.png": png_claiming(30000, 30000),
        "noface.jpg": _jpeg(skdata.coffee()),
    })
    elsewhere = f"http://localhost:{photo_server.port}/a.jpg"
    def url(path: str) -> dict[str, Any]:
        return {"params": secure_image(photo_server.url(path))}

    cases: list[tuple[dict[str, Any], str]] = [
        ({"params": {"secureimage": "{not json"}}, render("kakao.secureimage_bad", "ko")),
        ({"params": {"secureimage": '{"secureUrls": "List()"}'}}, render("kakao.secureimage_bad", "ko")),
        ({"params": secure_image(elsewhere)}, render("kakao.url_not_allowed", "ko")),
        ({"utterance": "https://evil.example/me.jpg"}, render("kakao.url_not_allowed", "ko")),
        (url(f"redirect?to={elsewhere}"), render("kakao.url_not_allowed", "ko")),
        (url("doc.jpg"), render("image.not_image", "ko")),
        (url("huge.png"), render("image.too_many_pixels", "ko", limit_mp=40)),
        (url("noface.jpg"), render("face.none", "ko")),
        (url("huge-length"), render("image.too_big_bytes", "ko", size_mb="1048576.0", limit_mb="15")),
        ({"utterance": "가" * 4000}, render("text.too_long", "ko", length=4000, limit=500)),
        ({"utterance": "/setface"}, render("kakao.setface_needs_photo", "ko")),
        ({"utterance": render("meme.next_label", "ko")}, render("kakao.no_previous", "ko")),
    ]

    async def bad(n: int, kwargs: dict[str, Any]) -> str:
        return text_of(await bot.final(f"mallory{n}", kwargs.pop("utterance", "/setface"), **kwargs))

    # everyone else is served while the bad requests are answered
    good = asyncio.create_task(bot.final("alice", "/setface", params=secure_image(photo_server.url("a.jpg"))))
    texts = await asyncio.gather(*(bad(n, dict(kwargs)) for n, (kwargs, _) in enumerate(cases)))
    for (kwargs, expected), text in zip(cases, texts, strict=True):
        assert expected in text, (kwargs, text)
        assert render("internal", "ko") not in text
    assert render("kakao.face_saved", "ko", name="기본") in text_of(await good)
    # hosts not allowed were never asked; the redirect was asked, its target never
    assert photo_server.hits.count("/a.jpg") == 1  # alice's
    assert len(outputs(await bot.say("alice", "도움말"))) == 1


async def test_a_full_queue_defers_to_the_callback_at_once(
    start_bot: StartBot, photo_server: PhotoServer, service: MemeService
) -> None:
    bot = await start_bot(kakao_budget_s=4.5)
    pool = service.pool
    # every worker busy for a while, then every waiting slot taken: the next request finds the queue full
    running = [asyncio.create_task(pool.run(Sleep(1.5))) for _ in range(pool.size)]
    await asyncio.sleep(0.3)
    waiting = [asyncio.create_task(pool.run(Sleep(0))) for _ in range(service.limits.queue_length)]
    await asyncio.sleep(0.1)
    assert pool.waiting == service.limits.queue_length
    # without a callback the person hears the queue is full; with one, the skill defers and retries
    assert text_of(await bot.say("dave", HUNGRY)) == render("service.busy", "ko")
    callback = photo_server.callback_url()
    ack = await bot.say("erin", HUNGRY, callback=callback)
    assert ack["useCallback"] is True
    assert not any(job.done() for job in running)  # deferred at once, while the queue was still full
    final = await photo_server.callback(callback)
    await asyncio.gather(*running, *waiting)
    assert render("face.not_registered", "ko") in text_of(final) and await bot.image(final)


async def test_a_port_in_use_is_a_clear_error(service: MemeService, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = Settings().replace(data_dir=tmp_path, http_host="127.0.0.1",
                                       http_port=taken.getsockname()[1])
        with pytest.raises(ConfigError) as err:
            await start_web(service, settings)
    assert err.value.key == "web.cannot_listen" and err.value.exit_code == 2


async def test_hostile_payloads_are_400_or_a_polite_text(start_bot: StartBot) -> None:
    bot = await start_bot()
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"userRequest": {"n": ' + b"9" * 5000 + b"}}"):
        async with bot.session.post(bot.skill_url, data=body) as resp:
            assert resp.status == 400 and "Traceback" not in await resp.text()
    # a lone surrogate (valid JSON, invalid text) is a text for the person, never "internal error"
    body = b'{"userRequest": {"utterance": "\\ud800\\ud800", "user": {"id": "lone"}}, "action": {}}'
    async with bot.session.post(bot.skill_url, data=body) as resp:
        assert resp.status == 200
        assert text_of(await resp.json()) == render("text.no_words", "ko")
    body = b'{"userRequest": {"utterance": "\\ud800\\ubc30\\uace0\\ud30c", "user": {"id": "lone"}}, "action": {}}'
    async with bot.session.post(bot.skill_url, data=body) as resp:
        assert render("internal", "ko") not in text_of(await resp.json())


@pytest.mark.parametrize("hosts", [("127.0.0.1",), ("localhost",)])
async def test_a_callback_url_on_a_host_not_allowed_is_never_contacted(
    start_bot: StartBot, photo_server: PhotoServer, hosts: tuple[str, ...]
) -> None:
    """A callbackUrl naming another host (or an allowed name that resolves inside the network) gets nothing:
    the server once POSTed its answer to http://127.0.0.1:18002/internal-admin?token=x."""
    bot = await start_bot(kakao_budget_s=0.001, kakao_callback_hosts=tuple(f"{h}:{photo_server.port}" for h in hosts))
    callback = photo_server.callback_url().replace("127.0.0.1", "localhost")
    if hosts == ("127.0.0.1",):  # allowed by address, but the URL names another host
        assert "localhost" in callback
    ack = await bot.say("mallory", HUNGRY, callback=callback)
    assert ack["useCallback"]
    allowed = photo_server.callback_url()  # the same server on an allowed host does get its answer
    await bot.say("mallory", "배고파", callback=allowed.replace("127.0.0.1", hosts[0]))
    if hosts == ("127.0.0.1",):
        await photo_server.callback(allowed)
    else:  # "localhost" is allowed by name, but it resolves to a loopback address: refused
        await asyncio.sleep(3)
        assert photo_server.callbacks[allowed.rsplit("/", 1)[1]] == []
    assert photo_server.callbacks[callback.rsplit("/", 1)[1]] == []


async def test_after_deleteface_the_crop_and_result_urls_answer_404(
    start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes
) -> None:
    """The /setface crop was never recorded, so a delete left it served (as public, immutable)."""
    bot = await start_bot()
    photo_server.files["a.jpg"] = photo_a
    saved = await bot.final("erin", "/setface", params=secure_image(photo_server.url("a.jpg")))
    first = await bot.final("erin", HUNGRY)
    second = await bot.final("erin", LAUGH)
    urls = [image_url(saved), image_url(first), image_url(second)]
    for url in urls:
        async with bot.session.get(url) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "private, no-store"
    yes = quick_reply(await bot.final("erin", "/deleteface"), render("delete.yes", "ko"))
    done = await bot.final("erin", yes["messageText"], extra=yes["extra"])
    assert text_of(done) == render("kakao.delete.done", "ko")
    for url in urls:
        async with bot.session.get(url) as resp:
            assert resp.status == 404, url


async def test_photo_with_my_face(start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes) -> None:
    """The "사진에 내 얼굴" block: a photo through the secure-image plugin comes back with the person's face."""
    from tests import face_fixtures as fx

    bot = await start_bot()
    chandler = fx.portrait("chandler")
    photo_server.files.update({"a.jpg": photo_a, "pic.jpg": chandler, "noface.jpg": _jpeg(skdata.coffee()),
                               "notes.txt": "메모\n".encode(), "huge.png": png_claiming(30000, 30000)})
    swap = "사진에 내 얼굴"
    # no face registered: nothing is downloaded
    assert text_of(await bot.final("alice", swap, params=secure_image(photo_server.url("pic.jpg")))) == render(
        "picture.needs_face", "ko")
    assert photo_server.hits == []
    assert text_of(await bot.final("alice", "내 얼굴 목록")) == render("faces.none", "ko")
    await bot.final("alice", "/setface 회사용", params=secure_image(photo_server.url("a.jpg")))
    assert text_of(await bot.final("alice", "/faces")) == render("faces.list", "ko", count=1, limit=5,
                                                                 names="회사용 (기본으로 씀)")

    answer = await bot.final("alice", swap, params=secure_image(photo_server.url("pic.jpg")))
    assert text_of(answer) == render("picture.swapped", "ko", count=1, swapped=1)
    swapped = await bot.image(answer)
    assert await _distance(swapped, photo_a) < await _distance(chandler, photo_a) - 0.1

    elsewhere = f"http://localhost:{photo_server.port}/pic.jpg"
    hits = len(photo_server.hits)
    for params, expected in (
        ({}, render("kakao.swap_needs_photo", "ko")),
        (secure_image(elsewhere), render("kakao.url_not_allowed", "ko")),  # outside Kakao's hosts: not fetched
        (secure_image(photo_server.url("huge-length")), render("image.too_big_bytes", "ko", size_mb="1048576.0",
                                                               limit_mb="15")),
        (secure_image(photo_server.url("huge.png")), render("image.too_many_pixels", "ko", limit_mp=40)),
        (secure_image(photo_server.url("notes.txt")), render("image.not_image", "ko")),
        (secure_image(photo_server.url("noface.jpg")), render("picture.no_face", "ko")),
    ):
        assert text_of(await bot.final("alice", swap, params=params)) == expected, params
    # fetched only from the allowed host, and only what passed the cheap checks (never the other host's copy)
    assert photo_server.hits[hits:] == ["/huge-length", "/huge.png", "/notes.txt", "/noface.jpg"]

    # the result is served by URL as long as the person is there; /deleteface takes it with everything else
    url = image_url(answer)
    await bot.final("alice", "/deleteface")
    await bot.final("alice", render("delete.yes", "ko"), extra={"fffusion": "delete_yes"})
    async with bot.session.get(url) as resp:
        assert resp.status == 404


async def test_a_choice_is_a_carousel_and_a_pick_is_answered_with_the_swapped_meme(
    start_bot: StartBot, photo_server: PhotoServer, photo_a: bytes, service: MemeService
) -> None:
    bot = await start_bot()
    photo_server.files["a.jpg"] = photo_a
    await bot.final("carol", "/setface", params=secure_image(photo_server.url("a.jpg")))
    service.calibration = Calibration(one_at=2.0, fits_at=0.0)  # unsure of every sentence
    offer = await bot.final("carol", HUNGRY)
    assert text_of(offer).startswith(render("meme.choose", "ko"))
    (carousel,) = [o["carousel"] for o in outputs(offer) if "carousel" in o]
    cards = carousel["items"]
    assert carousel["type"] == "basicCard" and len(cards) == 3
    captions = {m.caption for m in service.catalog.memes}
    for n, card in enumerate(cards, 1):
        assert card["description"] in captions and card["title"] == f"{n}번"
        async with bot.session.get(card["thumbnail"]["imageUrl"]) as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
        (button,) = card["buttons"]
        assert button["action"] == "message" and button["extra"]["fffusion"] == "pick"
    # "다른 짤" stays a quick reply: on a choice it brings the next three
    more = quick_reply(offer, render("meme.next_label", "ko"))
    assert more["extra"]["fffusion"] == "choices"

    button = cards[0]["buttons"][0]  # the first: the meme whose swap the tests know
    picked = await bot.final("carol", button["messageText"], extra=button["extra"])
    assert text_of(picked).startswith(cards[0]["description"])
    assert [o["simpleImage"]["altText"] for o in outputs(picked) if "simpleImage" in o] == [cards[0]["description"]]
    assert await _distance(await bot.image(picked), photo_a) < 0.6
    # tapped again: the same meme, still one vote
    await bot.final("carol", button["messageText"], extra=button["extra"])
    (vote,) = await service.learning.recent(10)
    assert vote.vote == PICK_VOTE and service.catalog.by_id[vote.meme_id].caption == cards[0]["description"]
    assert quick_reply(picked, render("meme.next_label", "ko"))["extra"]["fffusion"] == "next"

    next_three = await bot.final("carol", more["messageText"], extra=more["extra"])
    (again,) = [o["carousel"] for o in outputs(next_three) if "carousel" in o]
    assert not {c["description"] for c in again["items"]} & {c["description"] for c in cards}


async def test_nothing_fits_is_said_with_the_nearest_three(start_bot: StartBot, service: MemeService) -> None:
    bot = await start_bot()
    service.calibration = Calibration(fits_at=2.0)  # nothing ever fits
    answer = await bot.final("dave", "양자역학 시험 범위가 어디까지야")
    assert text_of(answer).startswith(render("meme.nothing_fits", "ko"))
    (carousel,) = [o["carousel"] for o in outputs(answer) if "carousel" in o]
    assert len(carousel["items"]) == 3
