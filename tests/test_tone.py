"""Tone: the feeling of sentences and memes, and the rule that a sad sentence never gets a mocking meme."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog.catalog import FEELINGS, Catalog, Meme, load_catalog
from core.errors import InputError
from core.recommend.embedders import E5Embedder, Embedder
from core.recommend.load import load_embedder
from core.recommend.recommender import Recommender
from core.recommend.tone import STORED, feeling_of, labelled_texts, read_stored

# one topic, opposite feelings: a sad sentence must never get the mocking one
BREAKUP = [
    Meme(id="crying", caption="연인과 헤어져서 혼자 울고 있다."),
    Meme(id="mocking", caption="차인 친구를 보며 비웃고 놀리고 있다.", tone="mockery"),
    Meme(id="lunch", caption="점심 메뉴를 고르며 고민하고 있다."),
]


def test_bank_descriptions_are_labelled_by_their_feeling_word() -> None:
    assert feeling_of("시험을 망쳐서 절망하고 있다.") == "sadness"
    assert feeling_of("퇴사를 해서 홀가분해하고 있다.") == "joy"  # not the 분해 (vexed) of anger
    assert feeling_of("게임에서 져서 분해하고 있다.") == "anger"
    assert feeling_of("친구의 흑역사를 들추며 깔깔 웃고 있다.") == "mockery"
    assert feeling_of("모르는 문제를 찍고 있다.") is None
    texts, feelings = labelled_texts()
    assert len(texts) == len(feelings) > 2000 and set(feelings) == set(FEELINGS)


def test_the_shipped_model_is_the_bundled_configurations(e5: E5Embedder) -> None:
    assert read_stored(STORED, e5.key) is not None
    assert read_stored(STORED, "some other model") is None


@pytest.fixture(scope="module")
def default() -> Embedder:
    return load_embedder()


def test_a_sad_sentence_never_gets_a_mocking_meme(default: Embedder) -> None:
    recommender = Recommender(Catalog(root=None, memes=BREAKUP), default)
    assert recommender.meme_feeling("mocking") == "mockery" and recommender.meme_feeling("crying") == "sadness"
    for sad in ("남친이랑 헤어졌어... 우울해", "I got dumped and I feel so sad"):  # the model says so
        feelings = recommender.feelings(sad)
        assert max(feelings, key=feelings.__getitem__) == "sadness", sad
    for sad in ("남친이랑 헤어졌어... 우울해", "차였어 너무 슬퍼 ㅠㅠ", "I got dumped and I feel so sad"):
        ranked = [r.meme_id for r in recommender.rank(sad, top=3)]
        assert ranked[0] == "crying" and "mocking" not in ranked, sad
    # hurt by teasing: the topic is mockery, the writer is the one hurt
    teased = [r.meme_id for r in recommender.rank("친구가 자꾸 놀려서 속상해", top=3)]
    assert "mocking" not in teased
    # the same topic, gloating: the mocking meme is there for it
    gloat = [r.meme_id for r in recommender.rank("ㅋㅋㅋ 너 차였다며 꼴좋다", top=3)]
    assert gloat[0] == "mocking"


def test_a_hurt_sentence_gets_a_cheerful_meme_only_after_every_other(default: Embedder) -> None:
    exams = [Meme(id="passed", caption="시험에 합격해서 뿌듯해하며 자랑스럽게 웃고 있다.", tone="pride"),
             Meme(id="failed", caption="시험을 망쳐서 머리를 감싸 쥐고 있다."),
             Meme(id="lunch", caption="점심 메뉴를 고르며 고민하고 있다.")]
    recommender = Recommender(Catalog(root=None, memes=exams), default)
    assert recommender.rank("합격했다!! 시험 붙었어", top=1)[0].meme_id == "passed"
    # the topic is the exam, yet lunch comes before the proud meme: "다른 짤" does not answer a failure with pride
    assert [r.meme_id for r in recommender.rank("시험 완전 망했어 ㅠㅠ", top=3)] == ["failed", "lunch", "passed"]


def test_a_declared_tone_wins_over_the_caption(default: Embedder) -> None:
    declared = [Meme(id="crying", caption=BREAKUP[0].caption, tone="mockery"), *BREAKUP[1:]]
    recommender = Recommender(Catalog(root=None, memes=declared), default)
    assert recommender.meme_feeling("crying") == "mockery"
    assert "crying" not in [r.meme_id for r in recommender.rank("남친이랑 헤어졌어... 우울해", top=3)]


def test_the_catalog_checks_the_tone_field(tmp_path: Path) -> None:
    entry = '[[meme]]\nid = "x"\nimage = "package:insightface/data/images/t1.jpg"\ncaption = "웃고 있다."\n'
    (tmp_path / "catalog.toml").write_text(entry + 'tone = "joy"\n', encoding="utf-8")
    assert load_catalog(tmp_path).memes[0].tone == "joy"
    (tmp_path / "catalog.toml").write_text(entry, encoding="utf-8")
    assert load_catalog(tmp_path).memes[0].tone is None  # optional: inferred from the caption
    (tmp_path / "catalog.toml").write_text(entry + 'tone = "smug"\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_catalog(tmp_path)
    assert "tone" in str(err.value.params)
