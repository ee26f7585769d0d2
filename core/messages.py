"""Every text a user reads, in Korean and English. Nothing else in the project builds user text."""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "ko"

TEXTS: dict[str, dict[str, str]] = {
    # text input
    "text.empty": {
        "ko": "문장을 입력해 주세요. 예: 시험 완전 망했어 ㅠㅠ",
        "en": "Please type a sentence, e.g. 'I totally failed the exam'.",
    },
    "text.too_long": {
        "ko": "문장이 너무 길어요 ({length}자). {limit}자 이내로 줄여 주세요.",
        "en": "That sentence is too long ({length} characters). Keep it under {limit}.",
    },
    "text.no_words": {
        "ko": "이모지나 기호만으로는 짤을 찾을 수 없어요. 상황을 글로 적어 주세요.",
        "en": "I can't find a meme from emoji or symbols alone. Describe the situation in words.",
    },
    # catalog
    "catalog.missing": {
        "ko": "짤 카탈로그를 찾을 수 없어요: {path}",
        "en": "Meme catalog not found: {path}",
    },
    "catalog.invalid": {
        "ko": "카탈로그에 잘못된 항목이 {count}개 있어요:\n{details}",
        "en": "The catalog has {count} bad entr{plural}:\n{details}",
    },
    "catalog.empty": {
        "ko": "카탈로그에 짤이 하나도 없어요: {path}",
        "en": "The catalog has no memes: {path}",
    },
    "catalog.image_exists": {
        "ko": "이미 같은 이름의 짤이 있어요: {name}",
        "en": "A meme with that id already exists: {name}",
    },
    # models
    "model.unavailable": {
        "ko": "문장 모델 '{name}'을(를) 불러올 수 없어요: {reason}",
        "en": "Cannot load the sentence model '{name}': {reason}",
    },
    "model.needs_st": {
        "ko": "'{name}' 모델을 쓰려면 sentence-transformers가 필요해요: pip install 'fffusion[st]'",
        "en": "The model '{name}' needs sentence-transformers: pip install 'fffusion[st]'",
    },
    # generic
    "file.unreadable": {
        "ko": "파일을 읽을 수 없어요: {path}",
        "en": "Cannot read the file: {path}",
    },
    "internal": {
        "ko": "잠깐 문제가 생겼어요. 조금 뒤에 다시 해 주세요.",
        "en": "Something went wrong on our side. Please try again in a moment.",
    },
}


def pick_lang(code: str | None) -> str:
    """Korean first; English when the client says so (any 'en*' locale)."""
    return "en" if code and code.lower().replace("_", "-").startswith("en") else DEFAULT_LANG


def render(key: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    texts = TEXTS.get(key) or TEXTS["internal"]
    template = texts.get(lang) or texts[DEFAULT_LANG]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
