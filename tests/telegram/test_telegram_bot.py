"""People chat with the real bot (PTB v22, adapters/telegram) through a Bot API server on 127.0.0.1; the real
service makes the memes. Faces are checked with dlib's identity model, independent of the swap."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from redis.asyncio import Redis

from adapters.telegram import TelegramBot, start_telegram
from adapters.telegram.handlers import INLINE_RESULTS
from bot.config import Settings
from bot.web import start_web
from core.compute.contract import WorkerConfig
from core.messages import TEXTS, render
from core.recommend.confidence import Calibration
from core.recommend.feedback import KEEP_VOTE, NEXT_VOTE, PICK_VOTE
from core.service.chat import Conversation
from core.service.service import MemeService, Person
from core.service.shared import RedisPending
from tests.faceutil import identity_distance
from tests.kakao.kakaoside import free_port
from tests.servers import RedisServer
from tests.telegram.botapi_server import BotApiServer, Call

# Example sentences of demo-catalog memes whose face the swap moves measurably toward both test people.
SENTENCE = "월급 들어왔다 신난다"  # chandler-winning (a colour face large enough to judge identity on)
LAUGH = "아 진짜 웃겨 죽겠네"  # chandler-laugh
SLEEPY = "너무 졸려 자고 싶어"  # rachel-sleepy


def _text(call: Call) -> str:
    return str(call.params["text"])


def _caption(call: Call) -> str:
    return str(call.params.get("caption") or (call.params.get("media") or {}).get("caption") or "")


def _next_button(call: Call) -> str:
    buttons = call.params["reply_markup"]["inline_keyboard"]
    assert buttons[0][0]["text"] == "다른 짤"
    return str(buttons[0][0]["callback_data"])


def _original(service: MemeService, caption: str) -> bytes:
    """The catalog image of the meme a caption belongs to (before any swap)."""
    meme = next(m for m in service.catalog.memes if m.caption == caption.split("\n\n")[0])
    return service.catalog.image_bytes(meme)


def _assert_face(service: MemeService, image: bytes | None, caption: str, own: bytes, other: bytes) -> float:
    """The meme carries `own`'s face: nearer to `own` than the meme's original face was, and nearer to `own`
    than to `other`. Returns the distance to `own`."""
    assert image is not None
    mine, theirs = identity_distance(image, own), identity_distance(image, other)
    assert mine < theirs, (mine, theirs)
    before = identity_distance(_original(service, caption), own)
    assert mine < before, (mine, before)
    return mine


@pytest.fixture
def no_face_jpeg() -> bytes:
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.coffee()).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.usefixtures("telegram_bot")
async def test_register_meme_next_inline_delete(botapi: BotApiServer, service: MemeService, photo_a: bytes,
                                                photo_b: bytes) -> None:
    alice = botapi.user(1001, "Alice")
    chat = botapi.private_chat(alice)

    botapi.send_text(alice, chat, "/start")
    assert _text(await botapi.expect("sendMessage", chat)) == render("telegram.help", "ko", bot="fffusion_test_bot")

    botapi.send_photo(alice, chat, photo_a, caption="/setface")
    crop = await botapi.expect("sendPhoto", chat)
    assert render("telegram.face_saved", "ko", name="기본") in _caption(crop)
    assert identity_distance(crop.photo, photo_a) < 0.6  # the crop it will use is shown

    sent_at = time.monotonic()
    botapi.send_text(alice, chat, SENTENCE)
    action = await botapi.expect("sendChatAction", chat)
    assert action.params["action"] == "upload_photo" and action.at - sent_at < 1.0
    meme = await botapi.expect("sendPhoto", chat)
    assert meme.uploaded and "reply_parameters" not in meme.params  # no quoting in a private chat
    swapped = _assert_face(service, meme.photo, _caption(meme), photo_a, photo_b)
    assert swapped < 0.6

    botapi.press(alice, meme.result, _next_button(meme))
    await botapi.expect("answerCallbackQuery")
    edit = await botapi.expect("editMessageMedia", chat)
    assert edit.params["message_id"] == meme.result["message_id"]
    assert edit.photo != meme.photo and _caption(edit) != _caption(meme)
    assert botapi.message(chat, meme.result["message_id"])["caption"] == _caption(edit)

    # Inline mode: photos by file id, uploaded once to the cache chat, personal to Alice.
    botapi.inline_query(alice, SLEEPY)
    answer = await botapi.expect("answerInlineQuery")
    results = answer.params["results"]
    assert len(results) >= 3 and answer.params["is_personal"] is True and "button" not in answer.params
    assert all(r["type"] == "photo" for r in results)
    images = [botapi.file_bytes(r["photo_file_id"]) for r in results]
    assert len(set(images)) == len(images)
    _assert_face(service, images[0], results[0]["caption"], photo_a, photo_b)
    uploads = len(botapi.of("sendPhoto"))
    botapi.inline_query(alice, f"  {SLEEPY} ")  # the same sentence: answered from the cache
    again = await botapi.expect("answerInlineQuery")
    assert again.params["results"] == results and len(botapi.of("sendPhoto")) == uploads

    botapi.send_text(alice, chat, "/deleteface")
    confirm = await botapi.expect("sendMessage", chat)
    assert _text(confirm) == render("delete.confirm", "ko")
    botapi.press(alice, confirm.result, confirm.button_data()[0])
    done = await botapi.expect("editMessageText", chat)
    assert _text(done) == render("delete.done", "ko")

    botapi.send_text(alice, chat, SENTENCE)
    plain = await botapi.expect("sendPhoto", chat)
    assert render("face.not_registered", "ko") in _caption(plain)
    # her face is gone: the same meme as at first, without the swap that had moved it toward her
    assert _caption(plain).startswith(_caption(meme))
    assert identity_distance(plain.photo, photo_a) > swapped + 0.1
    botapi.inline_query(alice, SLEEPY)
    after = await botapi.expect("answerInlineQuery")
    assert after.params["button"]["start_parameter"] == "setface"
    assert identity_distance(botapi.file_bytes(after.params["results"][0]["photo_file_id"]), photo_a) > 0.6


@pytest.mark.usefixtures("telegram_bot")
async def test_group_two_people_each_get_their_own_face(botapi: BotApiServer, service: MemeService,
                                                       photo_a: bytes, photo_b: bytes) -> None:
    alice = botapi.user(2001, "Alice")
    bob = botapi.user(2002, "Bob", language_code="en")
    group = botapi.group("친구들")

    # Alice: /setface, then the photo as an uncompressed document.
    botapi.send_text(alice, group, "/setface")
    assert _text(await botapi.expect("sendMessage", group)) == render("telegram.setface_send_photo", "ko")
    botapi.send_document(alice, group, photo_a, "me.jpg", "image/jpeg")
    assert identity_distance((await botapi.expect("sendPhoto", group)).photo, photo_a) < 0.6

    # Bob: a photo first (the bot stays quiet in a group), then "/setface 회사용" as a reply to it.
    photo = botapi.send_photo(bob, group, photo_b)
    await botapi.expect_nothing("sendMessage", group, within=0.5)
    botapi.send_text(bob, group, "/setface@fffusion_test_bot 회사용", reply_to=photo)
    crop = await botapi.expect("sendPhoto", group)
    assert render("telegram.face_saved", "en", name="회사용") in _caption(crop)
    assert identity_distance(crop.photo, photo_b) < 0.6

    # Chatter not meant for the bot is left alone.
    botapi.send_text(alice, group, "오늘 점심 뭐 먹지")
    await botapi.expect_nothing(("sendPhoto", "sendMessage"), group, within=0.5)

    request = botapi.send_text(alice, group, f"/meme {LAUGH}")
    alice_meme = await botapi.expect("sendPhoto", group)
    assert alice_meme.params["reply_parameters"]["message_id"] == request["message_id"]
    _assert_face(service, alice_meme.photo, _caption(alice_meme), photo_a, photo_b)

    botapi.send_text(bob, group, f"@fffusion_test_bot {SLEEPY}")
    bob_meme = await botapi.expect("sendPhoto", group)
    _assert_face(service, bob_meme.photo, _caption(bob_meme), photo_b, photo_a)

    # Bob cannot flip Alice's meme; a reply to the bot is a request too.
    botapi.press(bob, alice_meme.result, _next_button(alice_meme))
    refusal = await botapi.expect("answerCallbackQuery")
    assert refusal.params["text"] == render("telegram.not_yours", "en") and refusal.params["show_alert"]
    botapi.send_text(bob, group, SENTENCE, reply_to=bob_meme.result)
    reply = await botapi.expect("sendPhoto", group)
    _assert_face(service, reply.photo, _caption(reply), photo_b, photo_a)
    await botapi.expect_nothing("editMessageMedia", group, within=0.2)


@pytest.mark.usefixtures("telegram_bot")
async def test_same_result_is_sent_by_file_id(botapi: BotApiServer) -> None:
    carol, dave = botapi.user(3001, "Carol"), botapi.user(3002, "Dave")
    sent = []
    for person in (carol, dave):  # no faces: both get the same original meme image
        chat = botapi.private_chat(person)
        botapi.send_text(person, chat, SENTENCE)
        sent.append(await botapi.expect("sendPhoto", chat))
    first, second = sent
    assert first.uploaded and not second.uploaded
    assert second.params["photo"] == first.result["photo"][-1]["file_id"] and second.photo == first.photo


@pytest.mark.usefixtures("telegram_bot")
async def test_bad_input_gets_a_clear_reply_and_others_are_served(
        botapi: BotApiServer, service: MemeService, photo_b: bytes, no_face_jpeg: bytes) -> None:
    erin = botapi.user(4001, "Erin")
    chat = botapi.private_chat(erin)
    frank = botapi.user(4002, "Frank", language_code="en-US")
    frank_chat = botapi.private_chat(frank)
    limits = service.limits

    def huge_png() -> bytes:
        out = io.BytesIO()
        Image.new("1", (8000, 6000)).save(out, "PNG")  # 48 MP in a few kB
        return out.getvalue()

    pdf = botapi.send_document(erin, chat, b"%PDF-1.4 not a photo", "cv.pdf", "application/pdf", caption="/setface")
    assert _text(await botapi.expect("sendMessage", chat)) == render("image.not_image")
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: botapi.send_document(erin, chat, photo_b[: len(photo_b) // 2], "cut.jpg", "image/jpeg",
                                      caption="/setface"), render("image.truncated")),
        (lambda: botapi.send_document(erin, chat, huge_png(), "huge.png", "image/png", caption="/setface"),
         render("image.too_many_pixels", limit_mp=f"{limits.max_full_decode_pixels / 1e6:.0f}")),
        (lambda: botapi.send_photo(erin, chat, no_face_jpeg, caption="/setface"), render("face.none")),
        (lambda: botapi.send_text(erin, chat, "가" * 4000),
         render("text.too_long", length=4000, limit=limits.max_text_chars)),
        (lambda: botapi.send_sticker(erin, chat), render("telegram.unsupported")),
        (lambda: botapi.send_voice(erin, chat), render("telegram.unsupported")),
        (lambda: botapi.edit_text(botapi.send_text(erin, chat, "ㅋㅋ"), SENTENCE), render("telegram.edited")),
        (lambda: botapi.send_photo(erin, chat, photo_b), render("telegram.photo_hint")),
    ]
    for send, expected in cases:
        send()
        botapi.send_text(frank, frank_chat, SENTENCE)  # someone else keeps being served meanwhile
        assert _text(await botapi.expect("sendMessage", chat)) == expected
        assert render("face.not_registered", "en") in _caption(await botapi.expect("sendPhoto", frank_chat))

    # Refused from the size Telegram reports, before anything is downloaded; so is a file that is no image.
    big = b"\xff\xd8\xff\xe0" + bytes(limits.max_image_bytes + 1)
    document = botapi.send_document(erin, chat, big, "big.jpg", "image/jpeg", caption="/setface")["document"]
    assert _text(await botapi.expect("sendMessage", chat)) == render(
        "image.too_big_bytes", size_mb=f"{len(big) / 2**20:.1f}", limit_mb=f"{limits.max_image_bytes / 2**20:.0f}")
    fetched = {c.params["file_id"] for c in botapi.of("getFile")}
    assert document["file_id"] not in fetched and pdf["document"]["file_id"] not in fetched


@pytest.mark.usefixtures("telegram_bot")
# PTB 22 itself warns when it builds a RetryAfter (its retry_after becomes a timedelta in PTB 23).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
@pytest.mark.parametrize("fault", ["flood", "dropped", "chat_gone"])
async def test_telegram_failures_never_stop_the_bot(botapi: BotApiServer, fault: str) -> None:
    gina = botapi.user(5001, "Gina")
    chat = botapi.private_chat(gina)
    if fault == "flood":
        botapi.flood("sendPhoto", retry_after=1)
        start = time.monotonic()
        botapi.send_text(gina, chat, SENTENCE)
        await botapi.expect("sendPhoto", chat)
        assert time.monotonic() - start >= 1.0
        assert [c.ok for c in botapi.of("sendPhoto")] == [False, True]
    elif fault == "dropped":
        botapi.fail("sendMessage", drop=True)
        botapi.fail("getUpdates", 502, "Bad Gateway")
        botapi.send_text(gina, chat, "/help")
        await botapi.expect("sendMessage", chat)
        assert [c.ok for c in botapi.of("sendMessage")] == [False, True]
    else:
        group = botapi.group("사라진 방")
        botapi.send_text(gina, group, f"/meme {SENTENCE}")
        botapi.delete_chat(group)  # before the bot answers
        refused = await botapi.expect("sendPhoto", group, failed=True)
        assert refused.error == "Bad Request: chat not found"
    # whatever happened, the next person is served
    botapi.send_text(gina, chat, SLEEPY)
    await botapi.expect("sendPhoto", chat)


async def test_stop_finishes_requests_in_flight(service: MemeService, tg_settings: Settings,
                                                botapi: BotApiServer, telegram_bot: TelegramBot) -> None:
    hana = botapi.user(6001, "Hana")
    chat = botapi.private_chat(hana)
    botapi.send_text(hana, chat, SENTENCE)
    await botapi.expect("sendChatAction", chat)
    await telegram_bot.stop()
    assert botapi.of("sendPhoto") and botapi.of("sendPhoto")[-1].ok
    await telegram_bot.start()  # the fixture stops it again


async def test_webhook_mode(service: MemeService, tg_settings: Settings, botapi: BotApiServer) -> None:
    """Updates arrive on the project's one HTTP server (bot/web.py), beside the health check and the media."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    settings = tg_settings.replace(telegram_webhook_url=url, telegram_webhook_secret="s" * 32,
                                   http_host="127.0.0.1", http_port=port)
    bot = TelegramBot(Conversation(service), settings.telegram)
    server = await start_web(service, settings, routes=[bot.add_routes])
    await bot.start()
    try:
        assert botapi.of("setWebhook")[-1].params["secret_token"] == "s" * 32
        ivy = botapi.user(7001, "Ivy", language_code="en")
        chat = botapi.private_chat(ivy)
        botapi.send_text(ivy, chat, "/help")  # the server POSTs it to the webhook
        assert _text(await botapi.expect("sendMessage", chat)) == render("telegram.help", "en",
                                                                           bot="fffusion_test_bot")
        async with aiohttp.ClientSession() as session, session.post(url, json={"update_id": 1}) as resp:
            assert resp.status == 403  # without Telegram's secret header
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200  # the same server
    finally:
        await bot.stop()
        await server.stop()




@dataclasses.dataclass
class Balanced:
    """Bot instances behind a balancer: each update goes to the instance named next in `route`, or, once that is
    empty, to the next instance in turn; `served` lists where each went."""

    services: list[MemeService]
    route: list[int] = dataclasses.field(default_factory=list)
    served: list[int] = dataclasses.field(default_factory=list)

    def next(self) -> int:
        return self.route.pop(0) if self.route else len(self.served) % len(self.services)


@contextlib.asynccontextmanager
async def _behind_a_balancer(service_factory: Callable[..., Any], tg_settings: Settings, botapi: BotApiServer,
                             data: Path) -> AsyncIterator[Balanced]:
    """Two instances on one store, in webhook mode, each with its own HTTP server, behind one webhook address."""
    services = [await service_factory(data) for _ in range(2)]
    ports, front = [free_port(), free_port()], free_port()
    url = f"http://127.0.0.1:{front}/telegram/hook"
    settings = [tg_settings.replace(telegram_webhook_url=url, telegram_webhook_secret="s" * 32,
                                    http_host="127.0.0.1", http_port=port) for port in ports]
    bots = [TelegramBot(Conversation(service), s.telegram) for service, s in zip(services, settings, strict=True)]
    servers = [await start_web(service, s, routes=[bot.add_routes])
               for service, s, bot in zip(services, settings, bots, strict=True)]
    balanced = Balanced(services)
    session = aiohttp.ClientSession()

    async def balance(request: web.Request) -> web.Response:
        n = balanced.next()
        balanced.served.append(n)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with session.post(f"http://127.0.0.1:{ports[n]}/telegram/hook", data=await request.read(),
                                headers=headers) as resp:
            return web.Response(status=resp.status, body=await resp.read())

    balancer = web.Application()
    balancer.router.add_post("/telegram/hook", balance)
    runner = web.AppRunner(balancer)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", front).start()
    for bot in bots:
        await bot.start()
    try:
        yield balanced
    finally:
        for bot in bots:
            await bot.stop()
        await runner.cleanup()
        await session.close()
        for server in servers:
            await server.stop()
        for service in services:
            await service.close()


async def test_two_instances_share_one_bot_through_the_webhook(
        service_factory: Callable[..., Any], tg_settings: Settings, botapi: BotApiServer, tmp_path: Path,
        photo_a: bytes, photo_b: bytes) -> None:
    """Two instances on one store behind a balancer that hands each update to the next instance in turn: the face
    registered through one is used by the other, and "다른 짤" on the first continues the other's request."""
    async with _behind_a_balancer(service_factory, tg_settings, botapi, tmp_path / "shared") as balanced:
        lee = botapi.user(7101, "Lee")
        chat = botapi.private_chat(lee)
        botapi.send_photo(lee, chat, photo_a, caption="/setface")  # to instance 0
        assert render("telegram.face_saved", "ko", name="기본") in _caption(await botapi.expect("sendPhoto", chat))
        botapi.send_text(lee, chat, SENTENCE)  # to instance 1
        meme = await botapi.expect("sendPhoto", chat)
        assert _assert_face(balanced.services[1], meme.photo, _caption(meme), photo_a, photo_b) < 0.6
        botapi.press(lee, meme.result, _next_button(meme))  # to instance 0
        edit = await botapi.expect("editMessageMedia", chat)  # the next candidate of instance 1's request
        assert edit.photo != meme.photo and _caption(edit) != _caption(meme)
        assert balanced.served == [0, 1, 0]


@pytest.mark.parametrize("store_backend", ["postgres"])
async def test_inline_answers_of_a_person_deleted_through_another_instance_are_not_served(
        service_factory: Callable[..., Any], tg_settings: Settings, botapi: BotApiServer, tmp_path: Path,
        photo_a: bytes, store_backend: str) -> None:
    """Instance 1 answered Mo's inline query with memes of her face (and keeps that answer a while). She deletes
    everything through instance 0: instance 1's next answer to the same query carries none of those memes."""
    async with _behind_a_balancer(service_factory, tg_settings, botapi, tmp_path / "shared") as balanced:
        mo = botapi.user(7201, "Mo")
        chat = botapi.private_chat(mo)
        balanced.route += [0, 1, 1, 0, 0, 1]
        botapi.send_photo(mo, chat, photo_a, caption="/setface")
        await botapi.expect("sendPhoto", chat)
        botapi.inline_query(mo, SLEEPY)
        before = [r["photo_file_id"] for r in (await botapi.expect("answerInlineQuery")).params["results"]]
        assert before and identity_distance(botapi.file_bytes(before[0]), photo_a) < 0.6
        botapi.inline_query(mo, SLEEPY)  # answered from instance 1's own cache
        assert [r["photo_file_id"] for r in (await botapi.expect("answerInlineQuery")).params["results"]] == before
        botapi.send_text(mo, chat, "/deleteface")
        confirm = await botapi.expect("sendMessage", chat)
        botapi.press(mo, confirm.result, confirm.button_data()[0])
        assert _text(await botapi.expect("editMessageText", chat)) == render("delete.done", "ko")
        botapi.inline_query(mo, SLEEPY)
        after = (await botapi.expect("answerInlineQuery")).params
        assert balanced.served == [0, 1, 1, 0, 0, 1]
        assert not {r["photo_file_id"] for r in after["results"]} & set(before)
        assert after["button"]["start_parameter"] == "setface"  # no face any more: how to register one


async def test_setface_then_the_photo_on_another_instance(
        service_factory: Callable[..., Any], tg_settings: Settings, botapi: BotApiServer, tmp_path: Path,
        redis_server: RedisServer, photo_a: bytes) -> None:
    """"/setface", then the photo in the next message: with the instances sharing Redis, the photo that reaches the
    other instance is taken as the face (named as the command said); a deletion through either forgets a wait."""
    redis = _OneRedis(redis_server.url)
    try:
        async with _behind_a_balancer(service_factory, tg_settings, botapi, tmp_path / "shared") as balanced:
            for service in balanced.services:
                service.pending = RedisPending(redis, service.limits.reply_wait_s)
            max_ = botapi.user(7102, "Max")
            chat = botapi.private_chat(max_)
            botapi.send_text(max_, chat, "/setface 회사용")  # to instance 0
            assert _text(await botapi.expect("sendMessage", chat)) == render("telegram.setface_send_photo", "ko")
            botapi.send_photo(max_, chat, photo_a)  # to instance 1
            saved = await botapi.expect("sendPhoto", chat)
            assert render("telegram.face_saved", "ko", name="회사용") in _caption(saved)
            assert await balanced.services[0].list_faces(Person("telegram", "7102")) == ["회사용"]

            botapi.send_text(max_, chat, "/setface")  # to instance 0: waits for a photo again
            await botapi.expect("sendMessage", chat)
            botapi.send_text(max_, chat, "/deleteface")  # to instance 1
            confirm = await botapi.expect("sendMessage", chat)
            botapi.press(max_, confirm.result, confirm.button_data()[0])  # yes, to instance 0
            await botapi.expect("editMessageText", chat)
            botapi.send_photo(max_, chat, photo_a)  # to instance 1: a plain photo now
            assert _text(await botapi.expect("sendMessage", chat)) == render("telegram.photo_hint", "ko")
            assert balanced.served == [0, 1, 0, 1, 0, 1]
            assert await balanced.services[1].list_faces(Person("telegram", "7102")) == []
    finally:
        await redis.redis.aclose()


class _OneRedis:
    """The one connection to Redis the shared state uses (a bot instance's queue holds it in production)."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url)


@pytest.mark.usefixtures("telegram_bot")
async def test_one_next_press_records_one_vote(botapi: BotApiServer, service: MemeService) -> None:
    jo = botapi.user(8001, "Jo")
    chat = botapi.private_chat(jo)
    botapi.send_text(jo, chat, SENTENCE)
    meme = await botapi.expect("sendPhoto", chat)
    botapi.press(jo, meme.result, _next_button(meme))
    edit = await botapi.expect("editMessageMedia", chat)
    # the service votes, once per meme; the adapter does not: the skipped meme -1, the one shown next kept
    votes = {v.meme_id: v.vote for v in await service.learning.recent(10)}
    assert service.learning.recorded == 3 and sorted(votes.values()) == [NEXT_VOTE, KEEP_VOTE]
    (skipped,) = [m for m, v in votes.items() if v == NEXT_VOTE]
    assert _caption(meme).startswith(service.catalog.by_id[skipped].caption) and not _caption(edit).startswith(
        service.catalog.by_id[skipped].caption)


async def test_inline_top_k_spends_one_rate_limit_hit_and_votes_nothing(
        service_factory: Callable[..., Any], worker_config: WorkerConfig, tg_settings: Settings,
        botapi: BotApiServer, tmp_path: Path) -> None:
    limits = dataclasses.replace(worker_config.limits, rate_per_minute=2)
    service = await service_factory(tmp_path / "limited", dataclasses.replace(worker_config, limits=limits))
    bot = await start_telegram(Conversation(service), tg_settings.telegram)
    try:
        kim = botapi.user(8002, "Kim")
        chat = botapi.private_chat(kim)
        botapi.inline_query(kim, SLEEPY)
        answer = await botapi.expect("answerInlineQuery")
        assert len(answer.params["results"]) == INLINE_RESULTS  # the top k, for one of the two hits a minute
        assert await service.learning.recent(10) == [] and service.learning.recorded == 0
        botapi.send_text(kim, chat, SENTENCE)  # the second hit
        await botapi.expect("sendPhoto", chat)
        botapi.send_text(kim, chat, SENTENCE)
        limited = TEXTS["service.rate_limited"]["ko"].split("{")[0]
        assert _text(await botapi.expect("sendMessage", chat)).startswith(limited)
    finally:
        await bot.stop()
        await service.close()


@pytest.mark.usefixtures("telegram_bot")
async def test_a_failed_photo_download_is_a_clear_reply(botapi: BotApiServer, photo_a: bytes) -> None:
    lee = botapi.user(8003, "Lee")
    chat = botapi.private_chat(lee)
    botapi.fail("getFile", 400, "Bad Request: invalid file_id")
    botapi.send_photo(lee, chat, photo_a, caption="/setface")
    assert _text(await botapi.expect("sendMessage", chat)) == render("telegram.download_failed")
    botapi.send_photo(lee, chat, photo_a, caption="/setface")  # the next try works
    assert render("telegram.face_saved", name="기본") in _caption(await botapi.expect("sendPhoto", chat))


@pytest.mark.usefixtures("telegram_bot")
async def test_a_choice_is_an_album_with_numbered_buttons(botapi: BotApiServer, service: MemeService,
                                                           photo_a: bytes, photo_b: bytes) -> None:
    mo = botapi.user(8003, "Mo")
    chat = botapi.private_chat(mo)
    botapi.send_photo(mo, chat, photo_a, caption="/setface")
    await botapi.expect("sendPhoto", chat)
    service.calibration = Calibration(one_at=2.0, fits_at=0.0)  # unsure of every sentence
    botapi.send_text(mo, chat, "배고파 죽겠다")  # its first choice is a meme the swap serves well
    album = await botapi.expect("sendMediaGroup", chat)
    captions = [item["caption"] for item in album.params["media"]]
    assert len(captions) == 3 and [c.split(". ", 1)[0] for c in captions] == ["1", "2", "3"]
    assert all(photo for photo in album.photos)
    choice = await botapi.expect("sendMessage", chat)
    assert _text(choice).startswith(render("meme.choose", "ko"))
    labels = [b["text"] for b in choice.params["reply_markup"]["inline_keyboard"][0]]
    assert labels == ["1번", "2번", "3번", "다른 짤"]
    pick, more = choice.button_data()[0], choice.button_data()[3]
    assert pick.startswith("p|8003|") and more.startswith("c|8003|")

    botapi.press(mo, choice.result, pick)
    meme = await botapi.expect("sendPhoto", chat)
    caption = captions[0].split(". ", 1)[1]
    assert _caption(meme).startswith(caption)
    _assert_face(service, meme.photo, caption, photo_a, photo_b)
    (vote,) = await service.learning.recent(10)  # one pick, one vote (a second tap: tests/test_choices.py)
    assert vote.vote == PICK_VOTE and service.catalog.by_id[vote.meme_id].caption == caption

    # "골라보기" under the meme: the next three
    assert meme.button_data() == [f"n|8003|{more.split('|')[2]}", more]
    botapi.press(mo, meme.result, more)
    again = await botapi.expect("sendMediaGroup", chat)
    assert not {item["caption"].split(". ", 1)[1] for item in again.params["media"]} & {
        c.split(". ", 1)[1] for c in captions}
