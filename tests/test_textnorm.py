from __future__ import annotations

import pytest

from core.recommend.textnorm import caption_views, normalise, squeeze_elongation


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("배고파아아아", "배고파"),
        ("싫어어어어", "싫어"),
        ("추워어어", "추워"),  # ㅝ is drawn out as ㅓ
        ("안녕하세요오오", "안녕하세요"),
        ("좋아", "좋아"),  # 아 after ㅗ is an ending, not an elongation
        ("아아아 진짜", "아 진짜"),
    ],
)
def test_drawn_out_syllables_are_squeezed(raw: str, plain: str) -> None:
    assert squeeze_elongation(raw) == plain


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("아 진심 개빡치네 ㅋㅋㅋ", "아 진심 정말 화나네"),
        ("시험 폭망ㅠㅠㅠ", "시험 완전히 망했다"),
        ("헐 대박!!!!", "놀랍다 대단하다!"),
        ("이 집 존맛탱", "이 집 정말 맛있다"),
        ("넘 추워 ㄷㄷ", "너무 추워 덜덜"),
        ("ㅇㅋ ㄱㄱ~~", "오케이 고고"),
        ("뭐라고???", "뭐라고?"),
    ],
)
def test_colloquial_korean_becomes_plainer(raw: str, plain: str) -> None:
    assert normalise(raw) == plain


@pytest.mark.parametrize(
    "ordinary",
    ["헐레벌떡 뛰어왔다", "넘어져서 무릎을 다쳤다", "하이라이트만 봤어", "개구리가 운다", "개발 일정이 밀렸다"],
)
def test_ordinary_words_that_look_like_slang_stay(ordinary: str) -> None:
    assert normalise(ordinary) == ordinary


def test_nothing_left_is_still_a_sentence() -> None:
    assert normalise("ㅋㅋㅋㅋ") == "."
    assert normalise("ㅠㅠ") == "."


def test_caption_views_say_it_like_chat() -> None:
    assert caption_views("화가 나서 소리를 지르고 있다.") == [
        "화가 나서 소리를 지르고 있어",
        "화가 나서 소리를 지르는 중",
        "화가 나서 소리를 지르",  # the descriptive ending stripped
        "나 지금 화가 나서 소리를 지르고 있어",
    ]
    assert "너무 피곤해서 조는 중" in caption_views("너무 피곤해서 졸고 있다.")  # ㄹ-stem
    assert "부끄러워서 얼굴이 빨개졌어" in caption_views("부끄러워서 얼굴이 빨개졌다.")
    assert "생일 축하를 받아 고마워" in caption_views("생일 축하를 받아 고마워 하고 있다.")


def test_caption_in_another_style_gets_only_new_views() -> None:
    views = caption_views("Cat staring at a cucumber")
    assert "Cat staring at a cucumber" not in views
    assert views == ["나 지금 Cat staring at a cucumber"]
