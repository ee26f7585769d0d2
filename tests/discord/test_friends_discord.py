"""Issue 17 on Discord: "Swap my face" on any message with a picture, /swap, /shareface and group memes with
@friends, end to end against the loopback Discord (tests/discord/fake_discord.py) and the real service."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from adapters.discord.bot import DiscordBot
from core.messages import render
from tests import face_fixtures as fx
from tests.discord.fake_discord import EPHEMERAL, FakeDiscord, Interaction, Member, Message
from tests.discord.test_discord import image_of, private_reply, register
from tests.faceutil import identity_distance, who_is_where

PAIR = "둘이 아주 쿵짝이 잘 맞네"  # the two-face meme (ross-chandler) fits this sentence best


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 180, 160)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def chandler() -> bytes:
    return fx.portrait("chandler")


async def public_answer(ix: Interaction) -> Message:
    callback = await ix.acked()
    assert (callback.type, callback.flags) == (5, 0), "a public defer with thinking"
    answer = await ix.answer()
    assert not answer.ephemeral and not answer.deleted, (answer.content, ix.log)
    return answer


async def test_swap_my_face_on_a_posted_picture(
    fake: FakeDiscord, bot: DiscordBot, alice: Member, bob: Member, photo_a: bytes, chandler: bytes
) -> None:
    await private_reply(await fake.slash("faces", member=alice), render("discord.faces.none", "ko"))
    await register(fake, alice, photo_a)
    await private_reply(await fake.slash("faces", member=alice),
                        render("faces.list", "ko", count=1, limit=5, names="이름 없는 얼굴 (기본으로 씀)"))
    posted = fake.post(bob, "ㅋㅋㅋ 이거 봐", [fake.attachment("lol.jpg", chandler, "image/jpeg")])
    answer = await public_answer(await fake.context_menu("Swap my face", posted, member=alice))
    swapped = image_of(answer)
    assert identity_distance(swapped, photo_a) < identity_distance(chandler, photo_a) - 0.1
    assert answer.content == render("picture.swapped", "ko", count=1, swapped=1)

    # A link's picture in an embed: fetched from Discord's media proxy (proxy_url), never from the link's host.
    copy = fake.attachment("proxied.jpg", chandler, "image/jpeg")
    linked = fake.post(bob, "https://example.com/lol", embeds=[fake.embed_image("https://example.com/lol.jpg",
                                                                                 proxy_url=copy.url)])
    answer = await public_answer(await fake.context_menu("Swap my face", linked, member=alice, locale="en-US"))
    assert identity_distance(image_of(answer), photo_a) < identity_distance(chandler, photo_a) - 0.1
    assert answer.content == render("picture.swapped", "en", count=1, swapped=1)

    # /swap with an upload, onto every face of a group photo.
    group = fx.encode(fx.group_photo(), "JPEG", quality=90)
    ix = await fake.slash("swap", {"image": fake.attachment("t1.jpg", group, "image/jpeg"), "target": "all"},
                          member=alice)
    answer = await public_answer(ix)
    assert answer.content.startswith(render("picture.swapped", "ko", count=6, swapped=4)[:12])


async def test_pictures_that_cannot_be_used(
    fake: FakeDiscord, bot: DiscordBot, alice: Member, bob: Member, photo_a: bytes
) -> None:
    async def refused(message: Message, key: str, **params: object) -> None:
        ix = await fake.context_menu("Swap my face", message, member=alice)
        await private_reply(ix, render(key, "ko", **params))

    # Without a registered face nothing is downloaded.
    blank = fake.post(bob, attachments=[fake.attachment("wall.png", _png(640, 480), "image/png")])
    await refused(blank, "discord.picture.needs_face")
    assert fake.cdn_hits == []

    await register(fake, alice, photo_a)
    hits = len(fake.cdn_hits)
    await refused(blank, "picture.no_face")  # downloaded and searched: no face in it
    assert len(fake.cdn_hits) == hits + 1
    hits += 1
    text_file = fake.post(bob, attachments=[fake.attachment("notes.txt", "안녕하세요\n".encode(), "text/plain")])
    await refused(text_file, "image.not_image")
    big = fake.attachment("huge.jpg", photo_a, "image/jpeg", size=fake_limit(bot) + 1)
    await refused(fake.post(bob, attachments=[big]), "image.too_big_bytes", size_mb="15.0", limit_mb="15")
    # A picture anywhere but Discord's own file hosts (here: the same server by another name).
    elsewhere = f"http://localhost:{fake.port}/cdn/{big.id}/x.jpg"
    await refused(fake.post(bob, embeds=[fake.embed_image(elsewhere)]), "picture.host_not_allowed")
    await refused(fake.post(bob, "글만 있어요"), "picture.needs_image")
    assert len(fake.cdn_hits) == hits  # none of these was downloaded


def fake_limit(bot: DiscordBot) -> int:
    return bot.conversation.limits.max_image_bytes


async def shareface(fake: FakeDiscord, member: Member, mode: str) -> str:
    ix = await fake.slash("shareface", {"mode": mode}, member=member)
    answer = await ix.answer()
    assert answer.flags & EPHEMERAL
    return answer.content


async def test_group_memes_with_consenting_friends_only(
    fake: FakeDiscord, bot: DiscordBot, alice: Member, bob: Member, photo_a: bytes
) -> None:
    carol, dave, erin = fake.add_member("carol"), fake.add_member("dave"), fake.add_member("erin")
    await register(fake, bob, fx.portrait("rachel"))
    await register(fake, carol, fx.portrait("tom"))
    await register(fake, erin, photo_a)  # has a face, never shares it
    assert await shareface(fake, bob, "on") == render("discord.share.on", "ko")
    assert await shareface(fake, carol, "on") == render("discord.share.on", "ko")

    # Two consenting friends on the two-face meme (dave asks, with no face of his own).
    ix = await fake.slash("meme", {"text": f"{PAIR} <@{bob.id}> <@{carol.id}>"}, member=dave)
    answer = await public_answer(ix)
    assert render("group.with", "ko", names="bob, carol") in answer.content
    photos = {"bob": fx.portrait("rachel"), "carol": fx.portrait("tom")}
    assert who_is_where("ross-chandler", image_of(answer), photos, 2) == ["bob", "carol"]

    # Someone who has not allowed it is never swapped in, and the answer is the same whether they have a face
    # (erin) or not (frank, who never registered).
    frank = fake.add_member("frank")
    answers = []
    for friend in (erin, frank):
        ix = await fake.slash("meme", {"text": f"{PAIR} <@{friend.id}>"}, member=dave)
        answer = await public_answer(ix)
        said = answer.content.splitlines()
        assert said[-1] == render("discord.group.not_shared", "ko", names=f"<@{friend.id}>")
        assert not any(line.startswith(render("group.with", "ko", names="")) for line in said)
        answers.append(said[-1].replace(f"<@{friend.id}>", "<@someone>"))
        # dave's own meme, without them (he has no face: the original)
        assert said[0] in {m.caption for m in bot.conversation.service.catalog.memes}
    assert answers[0] == answers[1]

    # /shareface off, and /deleteface, take effect at once.
    assert await shareface(fake, carol, "off") == render("share.off", "ko")
    ix = await fake.slash("deleteface", member=bob)
    confirm = await ix.answer()
    yes = next(b["custom_id"] for b in confirm.buttons if b["custom_id"].endswith(":yes"))
    await (await fake.click(confirm, yes, member=bob)).answer()
    ix = await fake.slash("meme", {"text": f"{PAIR} <@{bob.id}> <@{carol.id}>"}, member=dave)
    answer = await public_answer(ix)
    assert render("discord.group.not_shared", "ko", names=f"<@{bob.id}>, <@{carol.id}>") in answer.content
