"""/자막 (subtitle) on Discord (issue 28): every meme asked in the server then carries the asker's sentence as its
자막, until /자막 off; end to end against the loopback Discord (tests/discord/fake_discord.py)."""

from __future__ import annotations

from adapters.discord.bot import DiscordBot
from core.messages import render
from tests.discord.fake_discord import EPHEMERAL, FakeDiscord, Member
from tests.discord.test_discord import image_of
from tests.discord.test_friends_discord import public_answer
from tests.subtitles import another_subtitle, changed_rows

SLEEPY = "너무 졸려 죽겠다"


async def _subtitle(fake: FakeDiscord, member: Member, mode: str, locale: str = "ko") -> str:
    ix = await fake.slash("subtitle", {"mode": mode}, member=member, locale=locale)
    answer = await ix.answer()
    assert answer.flags & EPHEMERAL  # only the one who switched it sees the answer
    return answer.content


async def _meme(fake: FakeDiscord, member: Member) -> bytes:
    return image_of(await public_answer(await fake.slash("meme", {"text": SLEEPY}, member=member)))


async def test_subtitle_on_puts_every_askers_sentence_on_the_servers_memes(
    fake: FakeDiscord, bot: DiscordBot, alice: Member, bob: Member
) -> None:
    # faceless members: the same meme for the same sentence, so only the 자막 tells results apart
    carol, dave = fake.add_member("carol"), fake.add_member("dave")
    plain = await _meme(fake, alice)
    assert await _subtitle(fake, bob, "on") == render("discord.chat_subtitle.on", "ko")
    assert another_subtitle(plain, await _meme(fake, carol))  # anyone's meme in the server
    assert await _subtitle(fake, carol, "off", locale="en-US") == render("discord.chat_subtitle.off", "en")
    assert len(changed_rows(plain, await _meme(fake, dave))) == 0
