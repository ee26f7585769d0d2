"""'/subtitle on|off' on Telegram (issue 28): every meme asked in that chat then carries the asker's sentence as
its 자막, in that chat only (a group, or the person's private chat), against the Bot API server on 127.0.0.1."""

from __future__ import annotations

import pytest

from core.messages import render
from tests.subtitles import another_subtitle, changed_rows
from tests.telegram.botapi_server import BotApiServer

SLEEPY = "너무 졸려 죽겠다"
LAUGH = "아 진짜 웃겨 죽겠네"


@pytest.mark.usefixtures("telegram_bot")
async def test_subtitle_on_in_one_group_puts_every_askers_sentence_there(botapi: BotApiServer) -> None:
    # faceless people: the same meme for the same sentence, so only the 자막 tells results apart
    alice, bob, carol, dave = (botapi.user(2301 + n, name) for n, name in enumerate(("Alice", "Bob", "Carol", "Dave")))
    friends, work = botapi.group("friends"), botapi.group("work")

    botapi.send_text(alice, friends, f"/meme {SLEEPY}")
    plain = (await botapi.expect("sendPhoto", friends)).photo
    botapi.send_text(alice, friends, "/subtitle on")
    assert (await botapi.expect("sendMessage", friends)).params["text"] == render("telegram.chat_subtitle.on", "ko")
    botapi.send_text(bob, friends, "/subtitle")  # anyone in the group can ask whether it is on
    assert (await botapi.expect("sendMessage", friends)).params["text"] == render("telegram.chat_subtitle.on", "ko")

    botapi.send_text(carol, friends, f"/meme {SLEEPY}")  # someone else in that group: their sentence too
    own = (await botapi.expect("sendPhoto", friends)).photo
    assert plain and own and another_subtitle(plain, own)

    botapi.send_text(dave, work, f"/meme {SLEEPY}")  # another group: untouched
    elsewhere = (await botapi.expect("sendPhoto", work)).photo
    assert elsewhere and len(changed_rows(plain, elsewhere)) == 0
    eve = botapi.user(2305, "Eve")  # someone new: the memes a person has just seen for a sentence are skipped
    botapi.send_text(eve, botapi.private_chat(eve), SLEEPY)  # nor anyone's private chat
    private = (await botapi.expect("sendPhoto", botapi.private_chat(eve))).photo
    assert private and len(changed_rows(plain, private)) == 0

    botapi.send_text(bob, friends, "/subtitle off")
    assert (await botapi.expect("sendMessage", friends)).params["text"] == render("telegram.chat_subtitle.off", "ko")
    botapi.send_text(bob, friends, f"/meme {SLEEPY}")
    after = (await botapi.expect("sendPhoto", friends)).photo
    assert after and len(changed_rows(plain, after)) == 0


@pytest.mark.usefixtures("telegram_bot")
async def test_subtitle_on_in_a_private_chat_is_the_persons_own_and_goes_with_them(botapi: BotApiServer) -> None:
    erin, frank = botapi.user(2311, "Erin", language_code="en"), botapi.user(2312, "Frank")
    chat, group = botapi.private_chat(erin), botapi.group("erin's friends")
    plain = {}
    for sentence in (SLEEPY, LAUGH):  # what a faceless person gets without the option
        botapi.send_text(frank, botapi.private_chat(frank), sentence)
        plain[sentence] = (await botapi.expect("sendPhoto", botapi.private_chat(frank))).photo or b""
    botapi.send_text(erin, chat, "/subtitle on")
    assert (await botapi.expect("sendMessage", chat)).params["text"] == render("telegram.chat_subtitle.on", "en")
    botapi.send_text(erin, chat, SLEEPY)
    assert another_subtitle(plain[SLEEPY], (await botapi.expect("sendPhoto", chat)).photo or b"")
    botapi.send_text(erin, group, f"/meme {LAUGH}")  # her private setting is not the group's
    assert len(changed_rows(plain[LAUGH], (await botapi.expect("sendPhoto", group)).photo or b"")) == 0

    botapi.send_text(erin, chat, "/deleteface")
    confirm = await botapi.expect("sendMessage", chat)
    botapi.press(erin, confirm.result, confirm.button_data()[0])
    assert (await botapi.expect("editMessageText", chat)).params["text"] == render("delete.done", "en")
    botapi.send_text(erin, chat, "/subtitle")  # a newcomer again: off
    assert (await botapi.expect("sendMessage", chat)).params["text"] == render("telegram.chat_subtitle.off", "en")
