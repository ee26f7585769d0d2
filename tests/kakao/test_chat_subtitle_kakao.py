"""'내 문장으로 자막' on Kakao (issue 28): a conversation is the person's own, so the quick reply under a meme (or
'자막 켜기' typed) puts their sentence on every meme until '자막 끄기', and goes with them when they are deleted;
over HTTP on loopback against the real service."""

from __future__ import annotations

from core.messages import render
from tests.kakao.conftest import StartBot
from tests.kakao.kakaoside import quick_reply, text_of
from tests.subtitles import another_subtitle, changed_rows

SLEEPY, HUNGRY = "너무 졸려 죽겠다", "배고파 죽겠다"
LABEL = render("kakao.chat_subtitle_label", "ko")


async def test_the_quick_reply_puts_the_sentence_on_every_meme_until_switched_off(start_bot: StartBot) -> None:
    bot = await start_bot()
    plain = {s: await bot.image(await bot.final("ref", s)) for s in (SLEEPY, HUNGRY)}  # someone without it

    first = await bot.final("mina", HUNGRY)
    assert len(changed_rows(plain[HUNGRY], await bot.image(first))) == 0
    offer = quick_reply(first, LABEL)  # under every meme while it is off
    switched = await bot.final("mina", offer["messageText"])
    assert text_of(switched) == render("kakao.chat_subtitle.on", "ko")
    own = await bot.final("mina", SLEEPY)
    assert another_subtitle(plain[SLEEPY], await bot.image(own))
    assert LABEL not in [r["label"] for r in own["template"]["quickReplies"]]  # on: nothing more to offer
    assert len(changed_rows(plain[SLEEPY], await bot.image(await bot.final("other", SLEEPY)))) == 0  # hers only

    assert text_of(await bot.final("mina", "자막")) == render("kakao.chat_subtitle.on", "ko")
    assert text_of(await bot.final("mina", "자막 끄기")) == render("kakao.chat_subtitle.off", "ko")
    assert text_of(await bot.final("mina", "Subtitle  ON")) == render("kakao.chat_subtitle.on", "ko")


async def test_deleting_the_person_deletes_their_setting(start_bot: StartBot) -> None:
    bot = await start_bot()
    await bot.final("jun", "자막 켜기")
    confirm = await bot.final("jun", "/deleteface")
    yes = quick_reply(confirm, render("delete.yes", "ko"))
    assert text_of(await bot.final("jun", yes["messageText"], extra=yes["extra"])) == render("kakao.delete.done", "ko")
    assert text_of(await bot.final("jun", "자막")) == render("kakao.chat_subtitle.off", "ko")
