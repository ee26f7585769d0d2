"""Kakao i Open Builder skill protocol v2: the SkillPayload we receive and the SkillResponse we answer.

Only the fields the bot uses are read; everything else in the payload is ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import InputError

Json = dict[str, Any]

MAX_OUTPUTS = 3
MAX_QUICK_REPLIES = 10
MAX_TEXT = 1000  # simpleText.text and simpleImage.altText
MAX_LABEL = 14  # quick reply label
MAX_CARD_TITLE = 50  # basicCard title
MAX_CARD_DESCRIPTION = 230  # basicCard description
MAX_CARDS = 10  # items of a carousel
SECURE_IMAGE_PARAM = "secureimage"
MAX_DEPTH = 16  # Open Builder's payloads nest about 5 deep
MAX_USER_ID = 128  # a botUserKey is about 70 characters
MAX_URL = 2048
MAX_LANG = 16
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_LIST_RE = re.compile(r"^\s*List\((.*)\)\s*$", re.DOTALL)


class BadPayload(ValueError):
    """The body is not a SkillPayload: answered with HTTP 400, never shown to a person."""


@dataclass(frozen=True)
class SkillRequest:
    user_id: str
    utterance: str
    lang: str | None
    callback_url: str | None
    params: Json = field(default_factory=dict)  # action.params, then detailParams values
    client_extra: Json = field(default_factory=dict)


def _scrub(value: Any, depth: int = 0) -> Any:
    """The payload with every unpaired surrogate (valid JSON, invalid text) replaced by U+FFFD, so nothing
    downstream (SQLite, logs, the network) chokes on it; nesting deeper than any real payload is refused."""
    if depth > MAX_DEPTH:
        raise BadPayload("nested too deep")
    if isinstance(value, str):
        return _SURROGATE_RE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_scrub(k, depth): _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, depth + 1) for v in value]
    return value


def parse_payload(body: bytes) -> SkillRequest:
    try:
        # a number of thousands of digits is a ValueError, nesting thousands deep a RecursionError
        payload = _scrub(json.loads(body))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadPayload("body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("userRequest"), dict):
        raise BadPayload("no userRequest")
    user_request = payload["userRequest"]
    user = user_request.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id.strip():
        raise BadPayload("no userRequest.user.id")
    if len(user_id) > MAX_USER_ID:
        raise BadPayload("userRequest.user.id too long")
    utterance = user_request.get("utterance")
    callback = user_request.get("callbackUrl")
    lang = user_request.get("lang")
    action = payload.get("action") if isinstance(payload.get("action"), dict) else {}
    params: Json = {}
    detail = action.get("detailParams")
    if isinstance(detail, dict):
        params.update({k: v["value"] for k, v in detail.items() if isinstance(v, dict) and "value" in v})
    if isinstance(action.get("params"), dict):
        params.update(action["params"])
    extra = action.get("clientExtra")
    return SkillRequest(
        user_id=user_id.strip(),
        utterance=utterance if isinstance(utterance, str) else "",
        lang=lang[:MAX_LANG] if isinstance(lang, str) else None,
        callback_url=callback if isinstance(callback, str) and 0 < len(callback) <= MAX_URL else None,
        params=params,
        client_extra=extra if isinstance(extra, dict) else {},
    )


def secure_image_url(params: Json) -> str | None:
    """The first URL of the secure-image plugin's parameter, None when the parameter is absent.

    The value is a JSON string (sometimes already an object) whose `secureUrls` is `List(url1,url2,...)`.
    """
    if SECURE_IMAGE_PARAM not in params:
        return None
    value = params[SECURE_IMAGE_PARAM]
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        data = None
    urls = data.get("secureUrls") if isinstance(data, dict) else None
    if isinstance(urls, str):
        match = _LIST_RE.match(urls)
        urls = match.group(1).split(",") if match else [urls]
    first = urls[0].strip() if isinstance(urls, list) and urls and isinstance(urls[0], str) else ""
    if not first.lower().startswith(("http://", "https://")):
        raise InputError("kakao.secureimage_bad")
    return first


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def simple_text(text: str) -> Json:
    return {"simpleText": {"text": _clip(text)}}


def simple_image(url: str, alt: str) -> Json:
    return {"simpleImage": {"imageUrl": url, "altText": _clip(alt) or "image"}}


def quick_reply(label: str, message: str, extra: Json | None = None) -> Json:
    reply: Json = {"label": label[:MAX_LABEL], "action": "message", "messageText": message}
    if extra:
        reply["extra"] = extra
    return reply


def basic_card(title: str, description: str, image_url: str, button: Json) -> Json:
    """A card with a thumbnail, its text and one button (a carousel holds several)."""
    card: Json = {"thumbnail": {"imageUrl": image_url, "altText": _clip(description) or "image"},
                  "buttons": [button]}
    if title:
        card["title"] = title[:MAX_CARD_TITLE]
    if description:
        card["description"] = description[:MAX_CARD_DESCRIPTION]
    return card


def message_button(label: str, message: str, extra: Json | None = None) -> Json:
    """A card button that sends `message` as the person's utterance, with `extra` as action.clientExtra."""
    button: Json = {"label": label[:MAX_LABEL], "action": "message", "messageText": message}
    if extra:
        button["extra"] = extra
    return button


def carousel(cards: Sequence[Json]) -> Json:
    if not 1 <= len(cards) <= MAX_CARDS:
        raise ValueError("a Kakao carousel holds 1-10 cards")
    return {"carousel": {"type": "basicCard", "items": list(cards)}}


def response(outputs: Sequence[Json], quick_replies: Sequence[Json] = ()) -> Json:
    if not 1 <= len(outputs) <= MAX_OUTPUTS or len(quick_replies) > MAX_QUICK_REPLIES:
        raise ValueError("Kakao allows 1-3 outputs and at most 10 quick replies")
    template: Json = {"outputs": list(outputs)}
    if quick_replies:
        template["quickReplies"] = list(quick_replies)
    return {"version": "2.0", "template": template}


def callback_ack(text: str) -> Json:
    """The immediate answer on a callback-enabled block; the real one is POSTed to callbackUrl later."""
    return {"version": "2.0", "useCallback": True, "data": {"text": _clip(text)}}
