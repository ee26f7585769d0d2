"""The conversation layer on the real service: intents in, typed replies out, and never an exception."""

from __future__ import annotations

import logging

import pytest

from core.errors import Failure, InputError, ServiceError, failure_of
from core.messages import render
from core.service.conversation import (
    Action,
    Conversation,
    DeleteIntent,
    HelpIntent,
    NextIntent,
    PhotoIntent,
    TextIntent,
)
from core.service.service import MemeService, Person

ALICE = Person("kakao", "conv-alice")
ERIN = Person("discord", "12", "en")


async def test_a_conversation_from_face_to_deletion(service: MemeService, photo_a: bytes) -> None:
    talk = Conversation(service)

    async def photo() -> bytes:
        return photo_a

    saved = await talk.handle(ALICE, PhotoIntent(photo, "회사용"))
    assert saved.lines == (render("kakao.face_saved", "ko", name="회사용"),) and saved.image and saved.private
    meme = await talk.handle(ALICE, TextIntent("배고파 죽겠다"))
    next_, choose = meme.buttons
    assert meme.error is None and meme.image and meme.result_key and not meme.private
    assert (next_.action, next_.label, next_.request_id, next_.enabled) == (
        Action.NEXT, "다른 짤", meme.request_id, True)
    assert (choose.action, choose.label, choose.request_id) == (Action.CHOICES, "골라보기", meme.request_id)
    other = await talk.handle(ALICE, NextIntent(meme.request_id or ""))
    assert other.request_id == meme.request_id and other.result_key != meme.result_key
    # the same reply as fields, for a platform that lays it out itself: no line positions to know
    assert (meme.headline, meme.has_next, meme.failure) == (meme.lines[0], True, None) and meme.headline == meme.title
    assert meme.notices == tuple(line for line in meme.lines[1:] if line)
    assert await talk.face_names(ALICE) == ["회사용"] and await talk.last_request(ALICE) == meme.request_id

    confirm = await talk.handle(ALICE, DeleteIntent())
    assert [b.action for b in confirm.buttons] == [Action.DELETE_CONFIRM, Action.DELETE_CANCEL]
    assert (await talk.handle(ALICE, DeleteIntent(False))).lines == (render("delete.cancelled", "ko"),)
    assert await service.list_faces(ALICE) == ["회사용"]
    assert (await talk.handle(ALICE, DeleteIntent(True))).lines == (render("kakao.delete.done", "ko"),)
    assert await service.list_faces(ALICE) == []
    assert (await talk.handle(ERIN, HelpIntent())).lines == (render("discord.help", "en"),)


async def test_every_failure_is_a_reply(service: MemeService, caplog: pytest.LogCaptureFixture) -> None:
    talk = Conversation(service)
    empty = await talk.handle(ERIN, TextIntent("   "))
    assert (empty.error, empty.lines, empty.private) == ("text.empty", (render("text.empty", "en"),), True)
    assert talk.refuse(ERIN, TextIntent("   ")) == empty  # found before any slow work
    unknown = await talk.handle(ERIN, NextIntent("no-such-request"))
    assert unknown.error == "meme.request_unknown" and unknown.image is None

    def too_big() -> None:
        raise InputError("image.not_image")

    async def never() -> bytes:
        raise AssertionError("fetched although the check refused")

    refused = await talk.handle(ERIN, PhotoIntent(never, check=too_big))
    assert refused.lines == (render("image.not_image", "en"),)

    async def broken() -> bytes:
        raise RuntimeError("a defect")

    with caplog.at_level(logging.ERROR):
        internal = await talk.handle(ERIN, PhotoIntent(broken))
    assert (internal.error, internal.lines) == ("internal", (render("internal", "en"),))
    kinds = (empty.failure, refused.failure, unknown.failure, internal.failure)
    assert kinds == (Failure.INPUT, Failure.INPUT, Failure.INPUT, Failure.INTERNAL)
    assert internal.headline == internal.text
    assert "a defect" in caplog.text  # logged with its traceback, never shown


@pytest.mark.parametrize(("err", "kind"), [
    (ServiceError("service.rate_limited", seconds=3), Failure.LIMITED),
    (ServiceError("service.busy"), Failure.BUSY),
    (ServiceError("service.unavailable"), Failure.BUSY),
    (ServiceError("service.timeout"), Failure.UNAVAILABLE),
    (ServiceError("telegram.download_failed"), Failure.INPUT),
    (InputError("text.empty"), Failure.INPUT),
    (ValueError("a defect"), Failure.INTERNAL),
])
def test_one_rule_names_the_kind_of_a_failure(err: BaseException, kind: Failure) -> None:
    """What the web page answers with (429, 503, 400) and what the Kakao skill retries (busy) come from here."""
    assert failure_of(err) is kind
