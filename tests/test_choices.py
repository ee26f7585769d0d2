"""A choice of memes when the ranking is unsure, "nothing fits", and learning from what people pick: the
conversation layer on the real service (the platforms' own tests show each one's way of showing a choice)."""

from __future__ import annotations

import asyncio

from core.messages import render
from core.recommend.confidence import Calibration
from core.recommend.feedback import KEEP_VOTE, NEXT_VOTE, PICK_VOTE
from core.service.conversation import (
    Action,
    ChoicesIntent,
    Conversation,
    NextIntent,
    PhotoIntent,
    PickIntent,
    TextIntent,
)
from core.service.service import MemeService, Person
from tests.faceutil import identity_distance

BOB = Person("kakao", "choice-bob")
UNSURE = Calibration(one_at=2.0, fits_at=0.0)  # never sure enough for one meme, something always fits
NOTHING = Calibration(fits_at=2.0)  # nothing ever fits
SURE = Calibration(one_at=0.0, fits_at=0.0)  # always one meme


async def _with_face(talk: Conversation, person: Person, photo: bytes) -> None:
    async def fetch() -> bytes:
        return photo

    assert (await talk.handle(person, PhotoIntent(fetch))).error is None


async def test_an_unsure_ranking_offers_three_and_the_pick_comes_swapped(service: MemeService,
                                                                          photo_a: bytes) -> None:
    talk = Conversation(service)
    await _with_face(talk, BOB, photo_a)
    service.calibration = UNSURE
    offer = await talk.handle(BOB, TextIntent("배고파 죽겠다"))
    request = offer.request_id or ""
    assert offer.error is None and offer.image is None and len(offer.choices) == 3
    assert offer.lines[0] == render("meme.choose", "ko")
    picks = [b for b in offer.buttons if b.action is Action.PICK]
    assert [b.label for b in picks] == ["1번", "2번", "3번"]
    assert [(b.index, b.request_id) for b in picks] == [(c.index, request) for c in offer.choices]
    (more,) = [b for b in offer.buttons if b.action is Action.CHOICES]
    assert more.label == render("meme.next_label", "ko") and more.enabled
    for choice in offer.choices:  # shown as they are: no face goes in before the pick
        assert choice.image == (await service.jobs.compose(choice.meme_id, None)).image
    assert await service.learning.recent(10) == []  # an offer says nothing yet

    second = offer.choices[1]
    picked = await talk.handle(BOB, PickIntent(request, second.index))
    assert picked.error is None and picked.title == second.caption and picked.image is not None
    # the person's face went in: the pick reads clearly nearer to her than the meme shown as it was
    swapped, shown = [await asyncio.to_thread(identity_distance, image, photo_a) for image in (picked.image,
                                                                                             second.image)]
    assert swapped < shown - 0.1
    assert [(v.meme_id, v.vote) for v in await service.learning.recent(10)] == [(second.meme_id, PICK_VOTE)]
    again = await talk.handle(BOB, PickIntent(request, second.index))  # tapped twice: still one vote
    assert again.result_key == picked.result_key and len(await service.learning.recent(10)) == 1

    # "다른 짤" after a pick skips the pick, not the last meme offered
    other = await talk.handle(BOB, NextIntent(request))
    assert other.error is None and other.title not in [c.caption for c in offer.choices]
    votes = {v.meme_id: v.vote for v in await service.learning.recent(10)}
    assert votes[second.meme_id] == NEXT_VOTE and KEEP_VOTE in votes.values()

    # a choice's "다른 짤" brings the next three, none shown before
    seen = {c.meme_id for c in offer.choices} | {m.id for m in service.catalog.memes if m.caption == other.title}
    next_three = await talk.handle(BOB, ChoicesIntent(request))
    assert len(next_three.choices) == 3 and not seen & {c.meme_id for c in next_three.choices}
    # a number that was never offered is refused
    person_id = await service.store.find_person(BOB.platform, BOB.user_id)
    stored = await service.store.request(person_id or 0, request)
    assert stored is not None
    never = next(i for i, m in enumerate(stored.candidates) if m not in stored.shown)
    assert (await talk.handle(BOB, PickIntent(request, never))).error == "meme.request_unknown"


async def test_nothing_fits_is_said_kindly_with_the_nearest_three(service: MemeService) -> None:
    talk = Conversation(service)
    service.calibration = NOTHING
    reply = await talk.handle(BOB, TextIntent("양자역학 시험 범위가 어디까지야"))
    assert reply.error is None and reply.image is None and len(reply.choices) == 3
    assert reply.lines[0] == render("meme.nothing_fits", "ko")
    picked = await talk.handle(BOB, PickIntent(reply.request_id or "", reply.choices[0].index))
    assert picked.image is not None and picked.title == reply.choices[0].caption


async def test_a_person_can_ask_to_choose_any_time(service: MemeService) -> None:
    talk = Conversation(service)
    service.calibration = SURE
    meme = await talk.handle(BOB, TextIntent("아 진짜 웃겨 ㅋㅋㅋ"))
    assert meme.image is not None and not meme.choices
    assert [b.action for b in meme.buttons] == [Action.NEXT, Action.CHOICES]
    (choose,) = [b for b in meme.buttons if b.action is Action.CHOICES]
    assert choose.label == render("meme.choices_label", "ko")
    (kept,) = await service.learning.recent(10)  # a meme sent counts as kept until "다른 짤"
    assert kept.vote == KEEP_VOTE and service.catalog.by_id[kept.meme_id].caption == meme.title
    offer = await talk.handle(BOB, ChoicesIntent(meme.request_id or ""))
    assert len(offer.choices) == 3 and meme.title not in [c.caption for c in offer.choices]
    assert offer.lines[0] == render("meme.choose", "ko")
