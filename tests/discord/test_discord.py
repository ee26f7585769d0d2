"""The Discord bot end to end: the unmodified discord.py client, a gateway and REST server on 127.0.0.1
(tests/discord/fake_discord.py), and the real service with real faces."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable

import pytest
from PIL import Image

from adapters.discord.bot import DiscordBot, parse_shards
from core.errors import ConfigError
from core.messages import render
from core.recommend.confidence import Calibration
from core.recommend.feedback import KEEP_VOTE, NEXT_VOTE, PICK_VOTE
from core.service.chat import Conversation
from core.service.service import MemeService
from tests.discord.conftest import StartBot
from tests.discord.fake_discord import EPHEMERAL, FakeDiscord, Interaction, Member, Message
from tests.faceutil import identity_distance

HUNGRY = "배고파 죽겠다"
LAUGH = "아 진짜 웃겨 ㅋㅋㅋ"


async def eventually(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {timeout}s: {what}") from None


def image_of(message: Message) -> bytes:
    assert len(message.attachments) == 1, message.attachments
    data = message.attachments[0].data
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
    return data


async def private_reply(ix: Interaction, text: str) -> Message:
    answer = await ix.answer()
    assert answer.ephemeral, (answer.content, ix.log)
    assert answer.content == text, ix.log
    return answer


async def register(fake: FakeDiscord, member: Member, photo: bytes, locale: str = "ko") -> Message:
    ix = await fake.slash("setface", {"image": fake.attachment("me.jpg", photo, "image/jpeg")},
                          member=member, locale=locale)
    assert (await ix.acked()).flags == EPHEMERAL  # a private "thinking..." while the face is found
    answer = await ix.answer()
    assert answer.ephemeral and not answer.loading
    return answer


async def meme(fake: FakeDiscord, member: Member, text: str, locale: str = "ko") -> tuple[Interaction, Message]:
    ix = await fake.slash("meme", {"text": text}, member=member, locale=locale)
    callback = await ix.acked()
    assert (callback.type, callback.flags) == (5, 0), "a public defer with thinking"
    answer = await ix.answer()
    assert not answer.ephemeral and not answer.deleted, ix.log
    return ix, answer


async def test_ready_and_localized_command_sync(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    assert bot.client is not None and bot.client.is_ready()
    (identify,) = fake.identifies
    assert identify["token"] == fake.token and identify["intents"] == 1  # guilds only
    assert [c.id for c in bot.client.guilds] == [fake.guild_id]

    (guild_id, sent), = fake.sync_requests
    assert guild_id is None  # global unless a development guild is configured
    commands = {c["name"]: c for c in sent}
    assert set(commands) == {"setface", "meme", "deleteface", "help", "swap", "shareface", "faces", "subtitle",
                             "Swap my face"}
    menu = commands["Swap my face"]
    assert menu["type"] == 3 and menu["name_localizations"] == {"ko": "내 얼굴로 바꾸기"}
    setface, meme_cmd = commands["setface"], commands["meme"]
    assert setface["name_localizations"] == {"ko": "얼굴등록"}
    assert setface["description"] == render("discord.cmd.setface.desc", "ko")
    english = render("discord.cmd.setface.desc", "en")
    assert setface["description_localizations"] == {"en-US": english, "en-GB": english}
    image, name = setface["options"]
    assert (image["name"], image["type"], image["required"], image["name_localizations"]) == (
        "image", 11, True, {"ko": "사진"})
    assert (name["name"], name["type"], name["required"]) == ("name", 3, False)
    text, face = meme_cmd["options"]
    assert (text["name"], text["type"], text["required"]) == ("text", 3, True)
    assert text["name_localizations"] == {"ko": "문장"}
    assert face["autocomplete"] is True and face["name_localizations"] == {"ko": "얼굴"}
    assert commands["deleteface"]["name_localizations"] == {"ko": "얼굴삭제"}
    assert commands["help"]["name_localizations"] == {"ko": "도움말"}
    assert commands["subtitle"]["name_localizations"] == {"ko": "자막"}
    (mode,) = commands["subtitle"]["options"]
    assert [c["value"] for c in mode["choices"]] == ["on", "off"] and mode["name_localizations"] == {"ko": "설정"}
    # every description reads in English for English clients, the options' too
    for command in sent:
        for part in [command, *command.get("options", [])]:
            if part.get("description"):
                assert set(part.get("description_localizations") or {}) >= {"en-US", "en-GB"}, part

    # Development: the same commands go to one guild (instant there) and the globals are left alone.
    await bot.stop()
    await start_bot(guild_id=fake.guild_id)
    assert [g for g, _ in fake.sync_requests] == [None, fake.guild_id]
    assert [c["name"] for c in fake.commands[fake.guild_id]] == [c["name"] for c in sent]


async def test_bad_token_and_a_refused_sync(
    fake: FakeDiscord, service: MemeService, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = DiscordBot(Conversation(service), token="not-the-token", api_base=fake.api_base, gateway=fake.gateway)
    with pytest.raises(ConfigError) as caught:
        await wrong.start()
    assert caught.value.key == "discord.bad_token" and not fake.identifies

    # Not allowed to register commands (e.g. the bot lacks the applications.commands scope there):
    # logged, and the bot still serves the commands of an earlier sync.
    fake.fail("PUT", r"/commands$", 403, code=50001, message="Missing Access")
    bot = await start_bot(guild_id=fake.guild_id)
    assert bot.client is not None and bot.client.is_ready() and fake.commands == {}
    assert "syncing the slash commands: missing permission" in caplog.text


async def test_setface_meme_next_restart_and_deleteface(
    fake: FakeDiscord, start_bot: StartBot, alice: Member, photo_a: bytes, photo_b: bytes
) -> None:
    first_bot = await start_bot()
    saved = await register(fake, alice, photo_a)
    assert saved.content == render("discord.face_saved", "ko", name="기본")
    assert identity_distance(image_of(saved), photo_a) < 0.6  # the crop it will use
    assert len(fake.cdn_hits) == 1

    # A second, named face: offered while typing /meme's face option, and used when chosen.
    named = await fake.slash("setface", {"image": fake.attachment("b.jpg", photo_b, "image/jpeg"), "name": "회사용"},
                             member=alice)
    assert (await named.answer()).content.startswith(render("discord.face_saved", "ko", name="회사용"))
    choices = await fake.autocomplete("meme", {"text": HUNGRY, "face": "회"}, "face", member=alice)
    assert (await choices.acked()).data["choices"] == [{"name": "회사용", "value": "회사용"}]
    work = await fake.slash("meme", {"text": LAUGH, "face": "회사용"}, member=alice)
    other = image_of(await work.answer())
    assert identity_distance(other, photo_b) < identity_distance(other, photo_a)

    ix, first = await meme(fake, alice, HUNGRY)
    assert ix.original is first  # the result replaced the "thinking..." placeholder
    face = image_of(first)
    assert identity_distance(face, photo_a) < 0.6 < identity_distance(face, photo_b)
    button, choose = first.buttons
    assert choose["label"] == render("meme.choices_label", "ko")
    assert button["label"] == "다른 짤" and button["custom_id"].startswith(f"fffusion:next:{alice.id}:")

    # "다른 짤" still works after the bot restarts: its state is in the custom_id and the service.
    await first_bot.stop()
    await start_bot()
    click = await fake.click(first, button["custom_id"], member=alice)
    assert (await click.acked()).type == 6  # deferred update: the same message is edited
    edited = await click.answer()
    assert edited is first and click.clicked_edits == 1 and not click.followups
    assert edited.content != render("internal", "ko") and image_of(edited) != face

    ask = await fake.slash("deleteface", member=alice)
    confirm = await private_reply(ask, render("delete.confirm", "ko"))
    assert [b["label"] for b in confirm.buttons] == ["모두 지우기", "취소"]
    yes = await fake.click(confirm, f"fffusion:delete:{alice.id}:yes", member=alice)
    done = await yes.answer()
    assert done is confirm and done.content == render("discord.delete.done", "ko") and done.buttons == []

    _, original = await meme(fake, alice, HUNGRY)
    assert render("discord.face.not_registered", "ko") in original.content
    assert identity_distance(image_of(original), photo_a) > 0.6


async def test_members_never_get_each_others_face(
    fake: FakeDiscord, bot: DiscordBot, alice: Member, bob: Member, photo_a: bytes, photo_b: bytes
) -> None:
    await asyncio.gather(register(fake, alice, photo_a), register(fake, bob, photo_b, "en-US"))
    (_, mine), (_, his) = await asyncio.gather(meme(fake, alice, LAUGH), meme(fake, bob, LAUGH, "en-US"))
    a, b = image_of(mine), image_of(his)
    assert identity_distance(a, photo_a) < min(0.6, identity_distance(a, photo_b))
    # The astronaut's swap carries less identity (a greyish, tilted source), but it is hers, never Alice's.
    assert identity_distance(b, photo_b) < identity_distance(b, photo_a)
    assert [x["label"] for x in his.buttons] == ["Another meme", render("meme.choices_label", "en")]

    # Bob presses Alice's button: a private "not yours" in English, her meme untouched.
    click = await fake.click(mine, mine.buttons[0]["custom_id"], member=bob, locale="en-US")
    await private_reply(click, render("discord.not_yours", "en"))
    assert click.clicked_edits == 0 and image_of(mine) == a


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, "PNG")  # 48 MP of 1-bit pixels: a small file
    return out.getvalue()


@pytest.fixture(scope="module")
def faceless_jpeg() -> bytes:
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.coffee()).save(out, "JPEG")
    return out.getvalue()


async def test_bad_input_gets_a_private_answer_and_the_bot_keeps_serving(
    fake: FakeDiscord, bot: DiscordBot, service: MemeService, alice: Member, photo_a: bytes,
    huge_png: bytes, faceless_jpeg: bytes
) -> None:
    limits = service.limits

    async def setface(attachment: object, locale: str = "ko") -> Interaction:
        return await fake.slash("setface", {"image": attachment}, member=alice, locale=locale)

    # Refused from what Discord reports, before any download and without a "thinking..." first.
    too_big = bytes(limits.max_image_bytes + 1)
    refused = [
        (fake.attachment("notes.txt", b"hello", "text/plain"), "image.not_image", {}),
        (fake.attachment("big.jpg", too_big, "image/jpeg"), "image.too_big_bytes",
         {"size_mb": f"{len(too_big) / 2**20:.1f}", "limit_mb": f"{limits.max_image_bytes / 2**20:.0f}"}),
        (fake.attachment("huge.png", huge_png, "image/png"), "image.too_many_pixels",
         {"limit_mp": f"{limits.max_full_decode_pixels / 1e6:.0f}"}),
    ]
    for attachment, key, params in refused:
        ix = await setface(attachment, "en-US")
        assert (await ix.acked()).type == 4
        await private_reply(ix, render(key, "en", **params))
    assert fake.cdn_hits == []

    # Discord could not read the PNG's size: downloaded, then refused by the service's own check.
    ix = await setface(fake.attachment("huge.png", huge_png, "image/png", dimensions=False))
    png_limit = f"{limits.max_full_decode_pixels / 1e6:.0f}"
    await private_reply(ix, render("image.too_many_pixels", "ko", limit_mp=png_limit))
    ix = await setface(fake.attachment("coffee.jpg", faceless_jpeg, "image/jpeg"))
    await private_reply(ix, render("face.none", "ko"))
    assert len(fake.cdn_hits) == 2

    # Sentences that cannot work are refused privately before the public "thinking...".
    for text, key, params in [
        ("   ", "text.empty", {}),
        ("가" * 6000, "text.too_long", {"length": 6000, "limit": limits.max_text_chars}),
    ]:
        ix = await fake.slash("meme", {"text": text}, member=alice)
        assert (await ix.acked()).type == 4
        await private_reply(ix, render(key, "ko", **params))

    # A failure after the public defer: the placeholder goes away and the error is still private.
    ix = await fake.slash("meme", {"text": HUNGRY, "face": "없는얼굴"}, member=alice)
    await private_reply(ix, render("face.unknown_name", "ko", name="없는얼굴"))
    assert ix.original is not None and ix.original.deleted

    help_ = await fake.slash("help", member=alice, locale="en-US")
    await private_reply(help_, render("discord.help", "en"))
    await register(fake, alice, photo_a)
    _, made = await meme(fake, alice, HUNGRY)
    assert identity_distance(image_of(made), photo_a) < 0.6


async def test_discord_failures_are_logged_and_survived(
    fake: FakeDiscord, bot: DiscordBot, alice: Member, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    followup = r"^/webhooks/\d+/[\w-]+$"

    # Rate limited on the callback and on the upload: discord.py waits retry_after and tries again.
    fake.fail("POST", r"/callback$", 429, retry_after=0.3)
    fake.fail("POST", followup, 429, retry_after=0.3)
    _, made = await meme(fake, alice, LAUGH)
    assert len(made.attachments) == 1 and fake.pending_faults() == 0

    # The interaction token expired (or the 3 s passed): nobody can be answered; log it and move on.
    fake.fail("POST", r"/callback$", 404, code=10062, message="Unknown interaction")
    expired = await fake.slash("meme", {"text": LAUGH}, member=alice)
    await eventually(lambda: "the interaction expired" in caplog.text, "the expiry is logged")
    assert expired.callback is None and not expired.messages()

    # The token died while the meme was being made (past Discord's 15 minutes): logged, nothing else.
    caplog.clear()
    fake.expire_after_ack()
    late = await fake.slash("meme", {"text": HUNGRY}, member=alice)
    await eventually(lambda: "the interaction expired" in caplog.text, "the expiry is logged")
    assert late.callback is not None and late.original is not None and late.original.loading

    # No permission to post the result here: the placeholder goes, the person hears why, privately.
    fake.fail("POST", followup, 403, code=50013, message="Missing Permissions")
    ix = await fake.slash("meme", {"text": LAUGH}, member=alice)
    await private_reply(ix, render("discord.cannot_post", "ko"))
    assert "missing permission" in caplog.text

    ok = await fake.slash("help", member=alice)
    await private_reply(ok, render("discord.help", "ko"))


async def test_one_next_press_records_one_vote(
    fake: FakeDiscord, bot: DiscordBot, service: MemeService, alice: Member
) -> None:
    _, shown = await meme(fake, alice, HUNGRY)
    skipped = shown.content
    click = await fake.click(shown, shown.buttons[0]["custom_id"], member=alice)
    assert (await click.answer()).content != skipped
    # the service votes, once per meme; the adapter does not: the skipped meme -1, the one shown next kept
    votes = {v.meme_id: v.vote for v in await service.learning.recent(10)}
    assert service.learning.recorded == 3 and sorted(votes.values()) == [NEXT_VOTE, KEEP_VOTE]
    (gone,) = [m for m, v in votes.items() if v == NEXT_VOTE]
    assert skipped.startswith(service.catalog.by_id[gone].caption)


async def test_shards_run_on_separate_instances(
    fake: FakeDiscord, start_bot: StartBot, alice: Member, photo_a: bytes, photo_b: bytes
) -> None:
    """FFFUSION_DISCORD_SHARDS="0/2" on one instance and "1/2" on another: each connects only its shard; the
    guild's events reach the instance whose shard has the guild, which serves them; when that instance goes, one
    started with the same shard takes over and the person's face is still theirs."""
    fake.shard_count = 2
    bots = [await start_bot(shards=([n], 2)) for n in (0, 1)]
    assert sorted(tuple(identify["shard"]) for identify in fake.identifies) == [(0, 2), (1, 2)]
    home = fake.guild_shard
    assert home is not None
    assert [g.id for g in bots[home].client.guilds] == [fake.guild_id] and not bots[1 - home].client.guilds

    await register(fake, alice, photo_a)
    _, answer = await meme(fake, alice, HUNGRY)
    assert identity_distance(image_of(answer), photo_a) < 0.6 < identity_distance(image_of(answer), photo_b)

    await bots[home].stop()
    with pytest.raises(AssertionError, match="no bot is connected"):  # the other instance never gets the guild
        await fake.slash("meme", {"text": HUNGRY}, member=alice)
    await start_bot(shards=([home], 2))
    await fake.wait_ready()
    _, answer = await meme(fake, alice, LAUGH)
    assert identity_distance(image_of(answer), photo_a) < 0.6


def test_shards_setting() -> None:
    assert parse_shards("") is None  # every shard Discord recommends
    assert parse_shards("0-3/8") == ([0, 1, 2, 3], 8)
    assert parse_shards("5/8") == ([5], 8)
    for bad in ("4-9/8", "3-1/8", "a-b/c", "0-3", "-1/4"):
        with pytest.raises(ConfigError) as caught:
            parse_shards(bad)
        assert caught.value.params["name"] == "FFFUSION_DISCORD_SHARDS"


async def test_a_choice_is_three_pictures_and_a_tap_on_a_number(
    fake: FakeDiscord, bot: DiscordBot, service: MemeService, alice: Member, photo_a: bytes
) -> None:
    await register(fake, alice, photo_a)
    service.calibration = Calibration(one_at=2.0, fits_at=0.0)  # unsure of every sentence
    _, offer = await meme(fake, alice, HUNGRY)
    assert offer.content.startswith(render("meme.choose", "ko"))
    assert [a.filename for a in offer.attachments] == ["choice1.jpg", "choice2.jpg", "choice3.jpg"]
    assert [b["label"] for b in offer.buttons] == ["1번", "2번", "3번", "다른 짤"]
    captions = offer.content.splitlines()[1:]
    assert [c.split(". ", 1)[0] for c in captions] == ["1", "2", "3"]

    click = await fake.click(offer, offer.buttons[0]["custom_id"], member=alice)
    picked = await click.answer()  # the same message, now the picked meme with the person's face
    caption = captions[0].split(". ", 1)[1]
    assert picked.id == offer.id and picked.content.startswith(caption) and len(picked.attachments) == 1
    assert identity_distance(image_of(picked), photo_a) < 0.6
    assert [b["label"] for b in picked.buttons] == ["다른 짤", render("meme.choices_label", "ko")]
    (vote,) = await service.learning.recent(10)
    assert vote.vote == PICK_VOTE and service.catalog.by_id[vote.meme_id].caption == caption

    # "골라보기" on the meme: the next three to choose from, in the same message
    choose = await fake.click(picked, picked.buttons[1]["custom_id"], member=alice)
    again = await choose.answer()
    assert len(again.attachments) == 3 and caption not in again.content
