"""Web and KakaoTalk settings that cannot work are refused before anything starts (exit 2)."""

from __future__ import annotations

import dataclasses

import pytest

from bot.config import Settings, load_settings
from bot.web import validate
from core.errors import ConfigError

GOOD = dataclasses.replace(Settings(), kakao_secret="a" * 16, public_url="https://bot.example.com")


@pytest.mark.parametrize(("change", "key"), [
    ({"kakao_secret": "short"}, "kakao.secret_short"),
    ({"kakao_secret": "a" * 15}, "kakao.secret_short"),
    ({"kakao_secret": "has/slash-0123456789"}, "kakao.secret_short"),
    ({"kakao_secret": "한글비밀번호한글비밀번호한글비밀번호"}, "kakao.secret_short"),
    ({"public_url": ""}, "kakao.public_url_missing"),
    ({"public_url": "bot.example.com"}, "config.bad_value"),
    ({"kakao_budget_s": 4.6}, "config.bad_value"),
    ({"kakao_budget_s": 0}, "config.bad_value"),
    ({"http_port": 70000}, "config.bad_value"),
    ({"media_max_bytes": 0}, "config.bad_value"),
    ({"studio_token": "a" * 15}, "studio.token_short"),
    ({"web_face_ttl_s": 0}, "config.bad_value"),
])
def test_refused(change: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(dataclasses.replace(GOOD, **change))
    assert err.value.key == key and err.value.exit_code == 2


def test_accepted_and_read_from_the_environment() -> None:
    validate(GOOD)
    validate(Settings())  # no Kakao secret: the skill is off, nothing else is required
    settings = load_settings(env={
        "FFFUSION_KAKAO_SECRET": "x" * 20, "FFFUSION_PUBLIC_URL": "https://bot.example.com",
        "FFFUSION_KAKAO_IMAGE_HOSTS": "secure.kakaocdn.net, 127.0.0.1", "FFFUSION_HTTP_PORT": "9000",
        "FFFUSION_KAKAO_BUDGET_S": "4", "FFFUSION_MEDIA_MAX_AGE_S": "3600",
    })
    validate(settings)
    assert settings.kakao_image_hosts == ("secure.kakaocdn.net", "127.0.0.1")
    assert (settings.http_port, settings.kakao_budget_s, settings.media_max_age_s) == (9000, 4.0, 3600)
    assert "x" * 20 not in str(settings.masked())
