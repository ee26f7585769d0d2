"""Web and KakaoTalk settings that cannot work are refused before anything starts (exit 2)."""

from __future__ import annotations

import pytest

from bot.config import Settings, load_settings
from bot.web import validate
from core.errors import ConfigError

KAKAO = {"FFFUSION_KAKAO_SECRET": "a" * 16, "FFFUSION_PUBLIC_URL": "https://bot.example.com"}


@pytest.mark.parametrize("change", [
    {"FFFUSION_KAKAO_SECRET": "short"},
    {"FFFUSION_KAKAO_SECRET": "a" * 15},
    {"FFFUSION_KAKAO_SECRET": "has/slash-0123456789"},
    {"FFFUSION_KAKAO_SECRET": "한글비밀번호한글비밀번호한글비밀번호"},
    {"FFFUSION_PUBLIC_URL": "bot.example.com"},
    {"FFFUSION_KAKAO_BUDGET_S": "4.6"},
    {"FFFUSION_KAKAO_BUDGET_S": "0"},
    {"FFFUSION_HTTP_PORT": "70000"},
    {"FFFUSION_MEDIA_MAX_BYTES": "0"},
    {"FFFUSION_STUDIO_TOKEN": "a" * 15},
    {"FFFUSION_WEB_FACE_TTL_S": "0"},
    {"FFFUSION_WEB_SECRET": "a" * 15},
    {"FFFUSION_WEB_MAX_FORM_FIELDS": "0"},
    {"FFFUSION_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, 10.0.0.0/33"},
    {"FFFUSION_KAKAO_IMAGE_HOSTS": "secure.kakaocdn.net:99999"},
    {"FFFUSION_DISCORD_IMAGE_HOSTS": "https://cdn.discordapp.com/x"},
])
def test_refused(change: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={**KAKAO, **change})
    assert err.value.key == "config.bad_value" and err.value.exit_code == 2
    assert err.value.params["name"] == next(iter(change))


def test_the_skill_needs_its_public_address() -> None:
    with pytest.raises(ConfigError) as err:
        validate(load_settings(env={**KAKAO, "FFFUSION_PUBLIC_URL": ""}))
    assert err.value.key == "kakao.public_url_missing"
    validate(load_settings(env={**KAKAO, "FFFUSION_PUBLIC_URL": ""}), chat=False)  # the web page alone


def test_accepted_and_read_from_the_environment() -> None:
    validate(Settings().replace(kakao_secret="a" * 16, public_url="https://bot.example.com"))
    validate(Settings())  # no Kakao secret: the skill is off, nothing else is required
    settings = load_settings(env={
        "FFFUSION_KAKAO_SECRET": "x" * 20, "FFFUSION_PUBLIC_URL": "https://bot.example.com",
        "FFFUSION_KAKAO_IMAGE_HOSTS": "secure.kakaocdn.net, 127.0.0.1:8443", "FFFUSION_HTTP_PORT": "9000",
        "FFFUSION_KAKAO_BUDGET_S": "4", "FFFUSION_MEDIA_MAX_AGE_S": "3600",
    })
    validate(settings)
    assert settings.kakao.image_hosts == ("secure.kakaocdn.net", "127.0.0.1:8443")
    assert (settings.http.port, settings.kakao.budget_s, settings.storage.media_max_age_s) == (9000, 4.0, 3600)
    assert "x" * 20 not in str(settings.masked())
