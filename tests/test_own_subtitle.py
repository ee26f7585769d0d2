"""The person's own sentence as the 자막, asked per request on every platform ("--자막" in the sentence: the text
reaches the service unchanged from Discord's /짤, Telegram, Kakao and the web page), and what every result
carries: at least 640 px, the provenance XMP and the mark."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.messages import render
from core.provenance import CREATOR_TOOL, DIGITAL_SOURCE_TYPE, read_xmp
from core.service.conversation import Conversation, NextIntent, SubtitleIntent, TextIntent
from core.service.friends import FriendRef
from core.service.service import OWN_SUBTITLE, MemeService, Person
from core.text import subtitle_request
from tests.subtitles import another_subtitle

SLEEPY = "너무 졸려 죽겠다"


def test_the_flag_is_a_word_anywhere_in_the_sentence() -> None:
    assert subtitle_request("시험 망했어 --자막") == ("시험 망했어", True)
    assert subtitle_request("--subtitle  시험 망했어") == ("시험 망했어", True)
    assert subtitle_request("시험--자막 망했어") == ("시험--자막 망했어", False)  # only as a word of its own


@pytest.mark.parametrize("platform", ["discord", "telegram", "kakao", "web"])
async def test_own_sentence_as_subtitle_on_every_platform(service: MemeService, platform: str) -> None:
    talk = Conversation(service)
    plain = await talk.handle(Person(platform, "plain"), TextIntent(SLEEPY))
    own = await talk.handle(Person(platform, "own"), TextIntent(f"{SLEEPY} --자막"))
    assert plain.image and own.image and plain.error is None and own.error is None
    assert plain.title == own.title  # the same meme: the flag is not part of the sentence ranked
    assert another_subtitle(plain.image, own.image)  # the person's words at the bottom, clear of the face
    assert own.request_id.startswith(OWN_SUBTITLE) and not plain.request_id.startswith(OWN_SUBTITLE)


async def test_another_meme_keeps_the_sentence_and_the_results_cache_keeps_them_apart(service: MemeService) -> None:
    alice = Person("telegram", "alice")
    first = await service.make_meme(alice, SLEEPY, subtitle=True)
    again = await service.make_meme(Person("telegram", "bob"), SLEEPY)
    assert first.meme_id == again.meme_id and first.result_key != again.result_key
    following = await service.next_meme(alice, first.request_id)
    plain_following = await service.jobs.compose(following.meme_id, None, "default")
    own_following = await service.jobs.compose(following.meme_id, None, "default", SLEEPY)
    assert following.image == own_following.image != plain_following.image


async def test_every_result_is_640_px_and_says_what_made_it(service: MemeService) -> None:
    result = await service.make_meme(Person("web", "v"), SLEEPY)
    with Image.open(io.BytesIO(result.image)) as image:
        assert max(image.size) >= 640
    packet = read_xmp(result.image)
    assert DIGITAL_SOURCE_TYPE in packet and CREATOR_TOOL in packet
    talk = Conversation(service)
    reply = await talk.handle(Person("web", "v"), NextIntent(result.request_id))
    assert DIGITAL_SOURCE_TYPE in read_xmp(reply.image)


async def test_inline_results_take_the_flag_too(service: MemeService) -> None:
    plain = await service.top(Person("telegram", "p"), SLEEPY, 2)
    own = await service.top(Person("telegram", "o"), f"{SLEEPY} --자막", 2)
    assert [r.meme_id for r in plain] == [r.meme_id for r in own]
    assert all(a.image != b.image and a.result_key != b.result_key for a, b in zip(plain, own, strict=True))


@pytest.mark.parametrize("platform", ["discord", "telegram", "kakao", "web"])
async def test_a_chat_that_asked_for_it_gets_the_sentence_on_every_meme(service: MemeService, platform: str) -> None:
    """SubtitleIntent, as every platform's command, button or checkbox sends it: per group chat, or the
    person's private chat; a message naming friends who did not allow it falls back to one meme, likewise."""
    talk = Conversation(service)
    plain = await talk.handle(Person(platform, "ref"), TextIntent(SLEEPY))
    on = await talk.handle(Person(platform, "a"), SubtitleIntent(True, "g1"))
    assert on.error is None and on.private
    for asker, chat, friends, own in (("b", "g1", (), True), ("c", "g2", (), False), ("d", None, (), False),
                                      ("e", "g1", (FriendRef("@nobody", handle="nobody"),), True)):
        reply = await talk.handle(Person(platform, asker), TextIntent(SLEEPY, None, friends, chat))
        assert reply.image and plain.image and reply.title == plain.title, asker
        assert reply.request_id.startswith(OWN_SUBTITLE) is own, asker
        assert another_subtitle(plain.image, reply.image) is own, asker
    await talk.handle(Person(platform, "d"), SubtitleIntent(True))  # d's private chat
    private = await talk.handle(Person(platform, "d"), TextIntent("시험 망했어"))
    assert private.request_id.startswith(OWN_SUBTITLE)
    assert (await talk.handle(Person(platform, "d"), SubtitleIntent(None))).text == render(
        f"{platform}.chat_subtitle.on" if platform != "web" else "chat_subtitle.on", "ko")
    await talk.handle(Person(platform, "a"), SubtitleIntent(False, "g1"))
    after = await talk.handle(Person(platform, "f"), TextIntent(SLEEPY, chat_id="g1"))
    assert not after.request_id.startswith(OWN_SUBTITLE)
