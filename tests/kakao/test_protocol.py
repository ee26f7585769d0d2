"""Parsing Open Builder's SkillPayload and the secure-image parameter; building SkillResponses."""

from __future__ import annotations

import json

import pytest

from adapters.kakao import protocol
from adapters.kakao.protocol import BadPayload, parse_payload, secure_image_url
from core.errors import InputError

URL1 = "http://secure.kakaocdn.net/dna/abc/img.jpg?credential=xyz&expires=1700000000&signature=a%2Cb"
URL2 = "http://secure.kakaocdn.net/dna/def/img2.jpg?credential=xyz"


def _secure(urls: str) -> str:
    return json.dumps({"privacyAgreement": "Y", "imageQuantity": "2", "secureUrls": urls, "expire": "x"})


def test_payload_fields() -> None:
    body = json.dumps({
        "userRequest": {"utterance": "시험 망했어", "user": {"id": "abc123"}, "lang": "en",
                        "callbackUrl": "https://bot-api.kakao.com/cb/1"},
        "action": {"params": {"secureimage": "p"}, "detailParams": {"other": {"origin": "o", "value": "v"}},
                   "clientExtra": {"k": 1}},
    }).encode()
    req = parse_payload(body)
    assert (req.user_id, req.utterance, req.lang) == ("abc123", "시험 망했어", "en")
    assert req.callback_url == "https://bot-api.kakao.com/cb/1"
    assert req.params == {"secureimage": "p", "other": "v"} and req.client_extra == {"k": 1}


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe", b"[1,2]", b'"x"', b"{}", b'{"userRequest": 1}',
    b'{"userRequest": {"utterance": "hi"}}', b'{"userRequest": {"user": {"id": ""}}}',
    b'{"userRequest": {"user": "u"}}',
])
def test_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayload):
        parse_payload(body)


def test_secure_image_first_url_of_scala_list() -> None:
    assert secure_image_url({"secureimage": _secure(f"List({URL1},{URL2})")}) == URL1
    assert secure_image_url({"secureimage": _secure(f"List({URL2})")}) == URL2
    # detailParams value, already an object, or a bare URL
    assert secure_image_url({"secureimage": {"secureUrls": f"List( {URL1} )"}}) == URL1
    assert secure_image_url({"secureimage": _secure(URL1)}) == URL1
    assert secure_image_url({"other": "x"}) is None


@pytest.mark.parametrize("value", [
    "", "{", "null", "[]", _secure("List()"), _secure("List(javascript:alert(1))"),
    json.dumps({"secureUrls": 5}), _secure("__import__('os').system('x')"),
    json.dumps({"imageQuantity": "1"}),
])
def test_broken_secure_image_values(value: str) -> None:
    with pytest.raises(InputError) as err:
        secure_image_url({"secureimage": value})
    assert err.value.key == "kakao.secureimage_bad"


def test_response_limits() -> None:
    out = protocol.response([protocol.simple_text("x" * 5000)], [protocol.quick_reply("a" * 30, "a")])
    assert len(out["template"]["outputs"][0]["simpleText"]["text"]) == protocol.MAX_TEXT
    assert len(out["template"]["quickReplies"][0]["label"]) == protocol.MAX_LABEL
    with pytest.raises(ValueError):
        protocol.response([protocol.simple_text("x")] * 4)
    with pytest.raises(ValueError):
        protocol.response([protocol.simple_text("x")], [protocol.quick_reply("a", "a")] * 11)
    assert protocol.callback_ack("wait") == {"version": "2.0", "useCallback": True, "data": {"text": "wait"}}


def _body(user_id: str = "u1", utterance: str = "안녕") -> dict:
    return {"userRequest": {"utterance": utterance, "user": {"id": user_id}}, "action": {}}


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # nested 100,000 deep: a RecursionError in the parser
    b'{"userRequest": {"user": {"id": "u"}, "utterance": "x", "n": ' + b"9" * 5000 + b"}}",  # 5,000 digits
    json.dumps({**_body(), "action": {"params": {"deep": json.loads("[" * 40 + "]" * 40)}}}).encode(),
    json.dumps(_body(user_id="u" * 1_000_000)).encode(),  # a 1 MB user id is never stored
    json.dumps(_body(user_id="u" * (protocol.MAX_USER_ID + 1))).encode(),
])
def test_malformed_payloads_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayload):
        parse_payload(body)


def test_lone_surrogates_become_replacement_characters() -> None:
    body = b'{"userRequest": {"utterance": "\\ud800\\uc2dc\\ud5d8", "user": {"id": "a\\udfffb"}},'
    body += b' "action": {"clientExtra": {"request_id": "\\udc00"}}}'
    req = parse_payload(body)
    assert req.utterance == "\ufffd시험" and req.user_id == "a\ufffdb"
    assert req.client_extra == {"request_id": "\ufffd"}
    req.utterance.encode("utf-8")  # what SQLite and the logs need
    long_id = "k" * protocol.MAX_USER_ID
    assert parse_payload(json.dumps(_body(user_id=long_id)).encode()).user_id == long_id
