"""Checks on what a person typed, shared by every entry point."""

from __future__ import annotations

import unicodedata

from core.errors import InputError
from core.limits import Limits

#: a word that asks for the sentence itself as the 자막 on the picture, anywhere in it: the text reaches the service
#: unchanged from every platform (`/짤 시험 망했어 --자막`, a Telegram or Kakao message, the web page's box)
SUBTITLE_FLAGS = ("--자막", "--subtitle")


def subtitle_request(text: str) -> tuple[str, bool]:
    """The sentence without the 자막 flag, and whether it had one."""
    words = text.split()
    kept = [w for w in words if w.lower() not in SUBTITLE_FLAGS]
    return " ".join(kept), len(kept) < len(words)


def clean_sentence(text: str | None, limits: Limits) -> str:
    """The sentence to rank, or an InputError that tells the person what to type instead."""
    text = unicodedata.normalize("NFC", text or "").strip()
    if not text:
        raise InputError("text.empty")
    if len(text) > limits.max_text_chars:
        raise InputError("text.too_long", length=len(text), limit=limits.max_text_chars)
    # Letters or digits in any script (Hangul jamo like ㅋㅋ count); emoji and symbols alone say too little.
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise InputError("text.no_words")
    return " ".join(text.split())


def face_number(text: str) -> int | None:
    """A face number as typed (" 2 "), or None. ASCII digits only: str.isdigit() also accepts "²" and other
    digit signs that int() then refuses."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None
