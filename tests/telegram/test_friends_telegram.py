"""Issue 17 on Telegram: /swap as a reply to a photo or as its caption, /shareface per group, and group memes
with the friends a message mentions or replies to, against the Bot API server on 127.0.0.1."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.messages import render
from tests import face_fixtures as fx
from tests.faceutil import identity_distance, who_is_where
from tests.telegram.botapi_server import BotApiServer, Call

PAIR = "둘이 아주 쿵짝이 잘 맞네"  # the two-face meme (ross-chandler) fits this sentence best


def _caption(call: Call) -> str:
    return str(call.params.get("caption") or "")


async def _register(botapi: BotApiServer, user: dict, photo: bytes) -> None:
    chat = botapi.private_chat(user)
    botapi.send_photo(user, chat, photo, caption="/setface")
    await botapi.expect("sendPhoto", chat)


@pytest.mark.usefixtures("telegram_bot")
async def test_swap_onto_a_photo_by_reply_or_caption(botapi: BotApiServer, photo_a: bytes) -> None:
    alice, bob = botapi.user(2101, "Alice"), botapi.user(2102, "Bob")
    group = botapi.group("friends")
    chandler = fx.portrait("chandler")

    posted = botapi.send_photo(bob, group, chandler)
    botapi.send_text(alice, group, "/swap", reply_to=posted)
    assert (await botapi.expect("sendMessage", group)).params["text"] == render("picture.needs_face", "ko")
    assert botapi.of("getFile") == []  # nothing downloaded for someone without a face

    await _register(botapi, alice, photo_a)
    botapi.send_text(alice, group, "/faces")
    assert (await botapi.expect("sendMessage", group)).params["text"] == render(
        "faces.list", "ko", count=1, limit=5, names="이름 없는 얼굴 (기본으로 씀)")
    botapi.send_text(alice, group, "/swap", reply_to=posted)
    swapped = await botapi.expect("sendPhoto", group)
    assert _caption(swapped) == render("picture.swapped", "ko", count=1, swapped=1)
    assert identity_distance(swapped.photo, photo_a) < identity_distance(chandler, photo_a) - 0.1

    # As the caption of the photo itself, in a private chat; the photo came through getFile.
    chat = botapi.private_chat(alice)
    botapi.send_photo(alice, chat, chandler, caption="/swap")
    again = await botapi.expect("sendPhoto", chat)
    assert identity_distance(again.photo, photo_a) < identity_distance(chandler, photo_a) - 0.1

    # Pictures that cannot be used: no face in it, a text file, one too big (refused before getFile).
    coffee = io.BytesIO()
    from skimage import data

    Image.fromarray(data.coffee()).save(coffee, "JPEG")
    botapi.send_text(alice, group, "/swap", reply_to=botapi.send_photo(bob, group, coffee.getvalue()))
    assert (await botapi.expect("sendMessage", group)).params["text"] == render("picture.no_face", "ko")
    notes = botapi.send_document(bob, group, "메모\n".encode(), "notes.txt", "text/plain")
    botapi.send_text(alice, group, "/swap", reply_to=notes)
    assert (await botapi.expect("sendMessage", group)).params["text"] == render("image.not_image", "ko")
    downloads = len(botapi.of("getFile"))
    huge = botapi.send_document(bob, group, b"\xff\xd8\xff" + bytes(16 * 1024 * 1024), "huge.jpg", "image/jpeg")
    botapi.send_text(alice, group, "/swap", reply_to=huge)
    assert (await botapi.expect("sendMessage", group)).params["text"] == render(
        "image.too_big_bytes", "ko", size_mb="16.0", limit_mb="15")
    botapi.send_text(alice, group, "/swap")
    assert (await botapi.expect("sendMessage", group)).params["text"] == render("picture.needs_image", "ko")
    assert len(botapi.of("getFile")) == downloads


@pytest.mark.usefixtures("telegram_bot")
async def test_group_memes_by_consent_per_group(botapi: BotApiServer, photo_a: bytes) -> None:
    bob, carol = botapi.user(2202, "Bob", username="bobby"), botapi.user(2203, "Carol")
    dave, erin = botapi.user(2204, "Dave"), botapi.user(2205, "Erin", username="erin")  # @frank: never here
    friends, other = botapi.group("friends"), botapi.group("work")
    await _register(botapi, bob, fx.portrait("rachel"))
    await _register(botapi, carol, fx.portrait("tom"))
    await _register(botapi, erin, photo_a)  # has a face, never shares it

    botapi.send_text(bob, friends, "/shareface on")
    assert (await botapi.expect("sendMessage", friends)).params["text"] == render("share.on", "ko")
    hello = botapi.send_text(carol, friends, "/shareface on")
    assert (await botapi.expect("sendMessage", friends)).params["text"] == render("share.on", "ko")
    botapi.send_text(bob, botapi.private_chat(bob), "/shareface on")
    assert (await botapi.expect("sendMessage")).params["text"] == render("share.needs_chat", "ko")

    # Two consenting friends on the two-face meme: one by @mention, one by replying to her message.
    botapi.send_text(dave, friends, f"/meme {PAIR} @bobby", reply_to=hello)
    group = await botapi.expect("sendPhoto", friends)
    assert render("group.with", "ko", names="Bob, Carol") in _caption(group)
    photos = {"bob": fx.portrait("rachel"), "carol": fx.portrait("tom")}
    assert who_is_where("ross-chandler", group.photo, photos, 2) == ["bob", "carol"]

    # Consent given in one group does nothing in another.
    botapi.send_text(dave, other, f"/meme {PAIR} @bobby")
    elsewhere = await botapi.expect("sendPhoto", other)
    assert _caption(elsewhere).endswith(render("group.not_shared", "ko", names="@bobby"))

    # Not consented: the same answer whether they have a face (erin) or not (frank).
    said = []
    for handle in ("@erin", "@frank"):
        botapi.send_text(dave, friends, f"/meme {PAIR} {handle}")
        caption = _caption(await botapi.expect("sendPhoto", friends))
        assert caption.endswith(render("group.not_shared", "ko", names=handle))
        assert render("group.with", "ko", names="")[:6] not in caption
        said.append(caption.splitlines()[-1].replace(handle, "@someone"))
    assert said[0] == said[1]

    # /deleteface withdraws consent at once.
    private = botapi.private_chat(bob)
    botapi.send_text(bob, private, "/deleteface")
    confirm = await botapi.expect("sendMessage", private)
    botapi.press(bob, confirm.result, confirm.button_data()[0])
    await botapi.expect("editMessageText", private)
    botapi.send_text(dave, friends, f"/meme {PAIR} @bobby")
    assert _caption(await botapi.expect("sendPhoto", friends)).endswith(
        render("group.not_shared", "ko", names="@bobby"))


def test_what_telegram_reports_is_checked_before_the_download() -> None:
    from telegram import Document, PhotoSize

    from adapters.telegram.handlers import _media_check
    from core.errors import InputError
    from core.limits import Limits

    limits = Limits()
    for media, key in ((PhotoSize("f", "u", 9000, 9000, 1000), "image.too_many_pixels"),
                       (PhotoSize("f", "u", 800, 600, limits.max_image_bytes + 1), "image.too_big_bytes"),
                       (Document("f", "u", file_name="a.txt", mime_type="text/plain"), "image.not_image")):
        with pytest.raises(InputError) as caught:
            _media_check(media, limits)()
        assert caught.value.key == key
    _media_check(PhotoSize("f", "u", 1280, 960, 200_000), limits)()  # a photo Telegram keeps: fine
