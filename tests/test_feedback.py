from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.catalog.catalog import Catalog, Meme
from core.messages import render
from core.recommend.embedders import E5Embedder
from core.recommend.feedback import (
    KEEP_VOTE,
    NEXT_VOTE,
    PICK_VOTE,
    Feedback,
    FeedbackSettings,
    Learning,
    Signal,
)
from core.recommend.recommender import Recommender
from core.service.service import text_key
from core.service.store import Store

MEMES = ["angry", "hungry", "sleepy"]


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


HERE = unit(1, 0, 0)
NEAR = unit(1, 0.2, 0)  # cos ~0.98 with HERE
FAR = unit(0, 1, 0)


def test_no_signals_or_switched_off_changes_nothing() -> None:
    assert not Feedback([], MEMES).adjustments(HERE).any()
    off = Feedback([Signal(1, "angry", HERE, PICK_VOTE)], MEMES, FeedbackSettings(enabled=False))
    assert not off.adjustments(HERE).any()


def test_votes_move_only_their_meme_and_only_for_similar_sentences() -> None:
    feedback = Feedback([Signal(1, "angry", HERE, PICK_VOTE), Signal(2, "hungry", HERE, NEXT_VOTE)], MEMES)
    near = feedback.adjustments(NEAR)
    assert near[0] > 0 > near[1] and near[2] == 0
    assert not feedback.adjustments(FAR).any()
    assert feedback.adjustments(HERE)[0] > near[0]  # the closer the sentence, the stronger the vote


def test_one_person_cannot_flood_but_many_people_add_up() -> None:
    settings = FeedbackSettings(strength=0.05, saturation=3.0)
    once = Feedback([Signal(666, "angry", HERE, PICK_VOTE)], MEMES, settings).adjustments(HERE)[0]
    flood = Feedback([Signal(666, "angry", HERE, PICK_VOTE)] * 500, MEMES, settings).adjustments(HERE)[0]
    crowd = Feedback([Signal(i, "angry", HERE, PICK_VOTE) for i in range(10)], MEMES, settings).adjustments(HERE)[0]
    assert flood == pytest.approx(once) == pytest.approx(0.05 * np.tanh(1 / 3))
    assert once < crowd < 0.05  # bounded by the strength


def test_a_persons_latest_signals_count_and_share_one_vote() -> None:
    settings = FeedbackSettings(per_person=2)
    changed_mind = [Signal(1, "angry", HERE, NEXT_VOTE)] * 3 + [Signal(1, "angry", HERE, PICK_VOTE)] * 2
    one_vote = settings.strength * np.tanh(1 / 3)
    assert Feedback(changed_mind, MEMES, settings).adjustments(HERE)[0] == pytest.approx(one_vote)
    unknown = Feedback([Signal(1, "gone-from-catalog", HERE, PICK_VOTE), Signal(1, "angry", HERE, 0)], MEMES)
    assert len(unknown) == 0


def test_kinds_weigh_differently_and_old_signals_fade() -> None:
    settings = FeedbackSettings()
    pick, keep, skip = (Feedback([Signal(1, "angry", HERE, v)], MEMES, settings).adjustments(HERE)[0]
                        for v in (PICK_VOTE, KEEP_VOTE, NEXT_VOTE))
    assert pick > keep > 0 > skip and abs(skip) < pick
    fresh = Feedback([Signal(1, "angry", HERE, PICK_VOTE, 0.0)], MEMES, settings).adjustments(HERE)[0]
    half = Feedback([Signal(1, "angry", HERE, PICK_VOTE, settings.half_life_s)], MEMES, settings).adjustments(HERE)[0]
    assert np.tanh(np.arctanh(fresh / settings.strength) / 2) * settings.strength == pytest.approx(half, rel=1e-4)


def test_one_person_moves_a_bounded_number_of_memes_by_a_bounded_amount() -> None:
    """A hostile person picking wrong memes for 200 sentences: only their latest `memes_per_person` memes move,
    each by at most strength * tanh(pick / saturation), however similar the next person's sentence is."""
    settings = FeedbackSettings(memes_per_person=20)
    memes = [f"m{i}" for i in range(200)]
    hostile = [Signal(666, meme, HERE, PICK_VOTE) for meme in memes]
    moved = Feedback(hostile, memes, settings).adjustments(HERE)
    bound = settings.strength * np.tanh(settings.pick / settings.saturation)
    assert np.count_nonzero(moved) == 20 and moved.max() == pytest.approx(bound)
    assert list(np.flatnonzero(moved)) == list(range(180, 200))  # the latest ones


def test_feedback_from_people_fixes_a_real_ranking(e5: E5Embedder) -> None:
    """Real sentences: people pressed '다른 짤' on a wrong pick and kept the right one for similar lines."""
    catalog = Catalog(
        root=None,
        memes=[
            Meme(id="rain", caption="비를 맞으며 처량하게 서 있다."),
            Meme(id="cry", caption="시험을 망쳐서 울고 있다."),
            Meme(id="cold", caption="추워서 몸을 웅크리고 떨고 있다."),
        ],
    )
    recommender = Recommender(catalog, e5)
    sentence = "우산 없이 나왔다가 홀딱 젖었어"
    ids = [m.id for m in catalog.memes]
    before = recommender.scores(sentence)
    wrong = ids[int(np.argmax(before))]
    past = e5.embed(["우산 안 챙겼다가 완전 젖었어", "우산 없이 나왔는데 비가 쏟아져"])
    signals = [Signal(i, "rain", v, PICK_VOTE) for i, v in enumerate(past)]
    signals += [Signal(i, wrong, v, NEXT_VOTE) for i, v in enumerate(past)] if wrong != "rain" else []
    feedback = Feedback(signals, ids, FeedbackSettings(strength=0.05))
    after = before + feedback.adjustments(e5.embed([sentence])[0])
    assert ids[int(np.argmax(after))] == "rain"
    assert after[ids.index("rain")] > before[ids.index("rain")]


async def test_the_operator_resets_learning(run_cli: Callable[..., Any], cli_env: dict[str, str]) -> None:
    data = Path(cli_env["FFFUSION_DATA_DIR"])
    data.mkdir(parents=True)
    store = Store(data / "fffusion.sqlite3")
    await store.open()
    person = await store.ensure_person("kakao", "reset-me")
    await store.vote(person, "시험 망했어", "rachel-exam", PICK_VOTE)
    await store.vote(person, "배고파", "joey-hungry", KEEP_VOTE)
    await store.close()
    done = await asyncio.to_thread(run_cli, "learning", "reset")
    assert done.returncode == 0 and render("learning.reset", "ko", count=2) in done.stdout, done.stderr
    await store.open()
    assert await store.votes(10) == []
    await store.close()


WET = "갑자기 비 와서 머리부터 발끝까지 젖었다"  # a newcomer's sentence, worded unlike any of the community's
COMMUNITY = ["우산 안 챙겼다가 완전 젖었어", "갑자기 소나기 와서 물에 빠진 생쥐 됨",
             "신발까지 다 젖음 ㅠㅠ 우산 두고 왔어", "비 쫄딱 맞고 버스 기다리는 중",
             "우산 없는데 비 쏟아짐 ㅋㅋ 망했다"]


async def _learned_ranking(e5: E5Embedder, tmp_path: Path, people: list[int]) -> tuple[str, str]:
    """The newcomer's first meme before and after `people[i]` picked 'rain' for COMMUNITY[i], the votes kept in
    a real store and learned as the workers learn them."""
    catalog = Catalog(root=None, memes=[
        Meme(id="rain", caption="비를 맞으며 처량하게 서 있다."),
        Meme(id="cold", caption="추워서 몸을 웅크리고 떨고 있다."),
        Meme(id="cry", caption="시험을 망쳐서 울고 있다."),
        Meme(id="late", caption="지각해서 헐레벌떡 뛰어가고 있다."),
        Meme(id="tired", caption="야근을 하며 지쳐 있다."),
    ])
    store = Store(tmp_path / "votes.sqlite3")
    await store.open()
    try:
        learning = Learning(store, FeedbackSettings())
        ids = {n: await store.ensure_person("kakao", f"person-{n}") for n in set(people)}
        for n, sentence in zip(people, COMMUNITY, strict=True):
            await learning.vote(ids[n], text_key(sentence), "rain", PICK_VOTE)
        votes = await learning.votes(await learning.generation())
    finally:
        await store.close()
    assert len(votes.items) == len(COMMUNITY)
    vectors = e5.embed([v.text_key for v in votes.items])
    recommender = Recommender(catalog, e5)
    before = recommender.rank(WET, top=1)[0].meme_id
    signals = [Signal(v.person_id, v.meme_id, x, v.vote, time.time() - v.at)
               for v, x in zip(votes.items, vectors, strict=True)]
    recommender.feedback = Feedback(signals, [m.id for m in catalog.memes], votes.settings)
    return before, recommender.rank(WET, top=1)[0].meme_id


async def test_a_meme_many_people_picked_wins_a_newcomers_differently_worded_sentence(
    e5: E5Embedder, tmp_path: Path
) -> None:
    before, after = await _learned_ranking(e5, tmp_path, [1, 2, 3, 4, 5])
    assert (before, after) == ("cold", "rain")


async def test_one_person_picking_the_same_cannot_do_it_alone(e5: E5Embedder, tmp_path: Path) -> None:
    assert await _learned_ranking(e5, tmp_path, [1] * len(COMMUNITY)) == ("cold", "cold")
