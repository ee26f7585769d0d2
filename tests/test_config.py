from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import RULES, TYPES, Settings, load_settings, read_settings
from core.errors import ConfigError, explain


def test_file_then_environment_take_precedence_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "fffusion.toml"
    token = "123:file-token-AAAAAAAAAAAAAAAAAAAAAAAAA"
    config.write_text(f'workers = 3\nmax_text_chars = 200\ntelegram_token = "{token}"\n', encoding="utf-8")
    settings = load_settings(env={"FFFUSION_CONFIG": str(config), "FFFUSION_MAX_TEXT_CHARS": "150"})
    assert settings.queue.workers == 3
    assert settings.limits.max_text_chars == 150  # the environment wins over the file
    assert settings.telegram.token == token
    shown = settings.masked()
    assert shown["max_text_chars"] == 150 and "file-token" not in str(shown)


def test_defaults_are_sane() -> None:
    settings = load_settings(env={})
    assert settings.limits.max_image_bytes == 15 * 1024 * 1024
    assert settings.limits.queue_length > 0 and settings.limits.rate_per_minute > 0
    assert settings.catalog.joinpath("catalog.toml").is_file()


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"FFFUSION_WORKERS": "many"}, "config.bad_value"),
        ({"FFFUSION_CONFIG": "/nonexistent.toml"}, "file.unreadable"),
    ],
)
def test_bad_settings_are_config_errors(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert caught.value.key == key


def test_unknown_names_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("wokers = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "config.unknown" and caught.value.params["names"] == "wokers (workers?)"
    config.write_text("workers = [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "config.bad_file"


def test_every_setting_has_one_rule() -> None:
    """A type, and a range, a set of values or a shape: a new setting without a rule fails here."""
    assert set(RULES) == set(TYPES)
    for name, kind in TYPES.items():
        rule = RULES[name]
        numeric = kind.replace(" ", "") in ("int", "float", "int|None")
        assert numeric == (rule.lo is not None and rule.hi is not None), name
        assert numeric or kind == "bool" or rule.choices or rule.shape, name


@pytest.mark.parametrize(
    ("env", "ko", "en"),
    [
        ({"FFFUSION_HTTP_PORT": "99999"}, "0~65535 사이의 정수", "a whole number from 0 to 65535"),
        ({"FFFUSION_HTTP_PORT": "abc"}, "0~65535 사이의 정수", "a whole number from 0 to 65535"),
        ({"FFFUSION_WORKERS": "-1"}, "0~256 사이의 정수", "a whole number from 0 to 256"),
        ({"FFFUSION_WORKERS": "2.5"}, "0~256 사이의 정수", "a whole number from 0 to 256"),
        ({"FFFUSION_FACE_SHAPE": "2"}, "0~1 사이의 수", "a number from 0 to 1"),
        ({"FFFUSION_LANG": "jp"}, "ko, en 중 하나", "one of ko, en"),
        ({"FFFUSION_FACE_BACKEND": "gpu"}, "auto, mesh, dlib, insightface 중 하나", "one of auto, mesh, dlib"),
        ({"FFFUSION_LEARN_FROM_USE": "maybe"}, "true 또는 false", "true or false"),
        ({"FFFUSION_TELEGRAM_TOKEN": "98765:short"}, "@BotFather", "@BotFather"),
        ({"FFFUSION_DISCORD_TOKEN": "Bot abc.def.ghi"}, "Bot 토큰", "bot token"),
        ({"FFFUSION_KAKAO_SECRET": "too-short"}, "16자 이상", "at least 16 characters"),
        ({"FFFUSION_STUDIO_TOKEN": "a" * 15}, "16자 이상", "at least 16 characters"),
        ({"FFFUSION_PUBLIC_URL": "bot.example.com"}, "https://", "https://"),
        ({"FFFUSION_TELEGRAM_WEBHOOK_URL": "http://bot.example.com/tg"}, "https://", "https://"),
        ({"FFFUSION_KAKAO_BUDGET_S": "4.6"}, "0.1~4.5 사이의 수", "a number from 0.1 to 4.5"),
        ({"FFFUSION_KAKAO_IMAGE_HOSTS": "a.example.com, not a host"}, "호스트 이름", "host names"),
        ({"FFFUSION_DISCORD_SHARDS": "0-3"}, "0-3/8", "0-3/8"),
        ({"FFFUSION_REDIS_URL": "localhost:6379"}, "redis://", "redis://"),
        ({"FFFUSION_MEDIA_MAX_BYTES": "0"}, "1048576~", "from 1048576 to"),
        ({"FFFUSION_WEB_FACE_TTL_S": "0"}, "1~31536000 사이의 정수", "from 1 to 31536000"),
        ({"FFFUSION_HTTP_TRUSTED_PROXIES": "10.0.0.0/33"}, "IP 주소 또는 네트워크", "IP addresses or networks"),
        ({"FFFUSION_DISCORD_IMAGE_HOSTS": "cdn.example.com:99999"}, "포트", "with a port or not"),
        ({"FFFUSION_WEB_SECRET": "short"}, "16자 이상", "at least 16 characters"),
        ({"FFFUSION_JOB_TRIES": "0"}, "1~100 사이의 정수", "a whole number from 1 to 100"),
    ],
)
def test_a_bad_value_names_what_is_expected_in_both_languages(env: dict[str, str], ko: str, en: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    (name, value), = env.items()
    for lang, expected in (("ko", ko), ("en", en)):
        line = explain(caught.value, lang)
        assert name in line and expected in line and "\n" not in line, line
    if "TOKEN" in name or "SECRET" in name:  # a malformed secret is still a secret: never printed whole
        assert value not in explain(caught.value, "ko")


def test_good_values_of_every_kind_are_read() -> None:
    settings = load_settings(env={
        "FFFUSION_TELEGRAM_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
        "FFFUSION_DISCORD_TOKEN": "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",
        "FFFUSION_LOG_LEVEL": "debug", "FFFUSION_WEB_PAGE": "yes", "FFFUSION_DISCORD_SHARDS": "5/8",
        "FFFUSION_TELEGRAM_CACHE_CHAT": "-1001234567890", "FFFUSION_DISCORD_GUILD_ID": "",
        "FFFUSION_KAKAO_IMAGE_HOSTS": "secure.kakaocdn.net, 127.0.0.1:8443, [::1]", "FFFUSION_FACE_SHAPE": "0",
        "FFFUSION_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, ::1", "FFFUSION_MARK": "off",
    })
    assert settings.log_level == "DEBUG" and settings.web.page and settings.discord.guild_id is None
    assert settings.kakao.image_hosts == ("secure.kakaocdn.net", "127.0.0.1:8443", "[::1]")
    assert settings.http.trusted_proxies == ("10.0.0.0/8", "::1") and not settings.limits.mark
    assert settings.limits.face_shape == 0


def test_a_misspelt_environment_name_is_named_with_the_closest_real_one() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"FFFUSION_TELEGRAM_TOKN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"})
    assert caught.value.key == "config.unknown"
    assert caught.value.params["names"] == "FFFUSION_TELEGRAM_TOKN (FFFUSION_TELEGRAM_TOKEN?)"
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"FFFUSION_ZZZ": "1"})
    assert caught.value.params["names"] == "FFFUSION_ZZZ"
    # the tests' and benchmarks' own variables are not settings and not refused
    load_settings(env={"FFFUSION_CHROMIUM": "/usr/bin/chromium", "FFFUSION_SCREENSHOTS": "/tmp"})


def test_a_bad_value_in_the_file_is_named_as_the_file_names_it(tmp_path: Path) -> None:
    config = tmp_path / "fffusion.toml"
    config.write_text("workers = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.params["name"] == f"{config}: workers"
    assert "FFFUSION_WORKERS" not in explain(caught.value, "en")
    config.write_text('workers = "3"\nlearn_from_use = false\nkakao_image_hosts = ["a.example.com"]\n',
                      encoding="utf-8")
    settings = load_settings(config)
    assert settings.queue.workers == 3 and not settings.recognition.learn_from_use
    assert settings.kakao.image_hosts == ("a.example.com",)
    config.write_text("workers = true\n", encoding="utf-8")  # TOML's own types are checked too
    with pytest.raises(ConfigError):
        load_settings(config)


def test_settings_are_grouped_by_what_they_configure_under_their_old_names(tmp_path: Path) -> None:
    """Every FFFUSION_* name people's deployments use still sets the same setting, now in its section; the file
    takes the flat names or the sections' tables."""
    names = set(TYPES)  # the names RULES has always had (test_every_setting_has_one_rule)
    assert {"telegram_token", "public_url", "studio_token", "queue_poll_s", "worker_heartbeat", "database_url",
            "max_text_chars", "http_trusted_proxies"} <= names
    settings = load_settings(env={"FFFUSION_PUBLIC_URL": "https://bot.example.com", "FFFUSION_QUEUE_POLL_S": "0.5",
                                  "FFFUSION_STUDIO_TOKEN": "s" * 16, "FFFUSION_DISCORD_GUILD_ID": "42",
                                  "FFFUSION_WORKER_HEARTBEAT": str(tmp_path / "beat")})
    assert settings.http.public_url == "https://bot.example.com" and settings.queue.poll_s == 0.5
    assert settings.web.studio_token == "s" * 16 and settings.discord.guild_id == 42
    assert settings.queue.heartbeat == tmp_path / "beat"
    assert set(settings.masked()) == names and settings.masked()["studio_token"] != "s" * 16
    config = tmp_path / "fffusion.toml"
    config.write_text('workers = 2\n[telegram]\nwebhook_url = "https://bot.example.com/tg"\n[limits]\n'
                      'max_text_chars = 99\n[http]\nport = 9000\npublic_url = "https://bot.example.com"\n',
                      encoding="utf-8")
    loaded = read_settings(config, env={})
    grouped = loaded.settings
    assert grouped.telegram.webhook_url == "https://bot.example.com/tg" and grouped.limits.max_text_chars == 99
    assert grouped.http.port == 9000 and grouped.http.public_url == "https://bot.example.com"
    assert grouped.queue.workers == 2 and loaded.origins["telegram_webhook_url"] == "file"
    config.write_text("[telegram]\ntokn = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.params["names"] == "telegram.tokn (telegram_token?)"
    assert Settings().replace(telegram_token="t", http_port=1).telegram.token == "t"
    with pytest.raises(TypeError):
        Settings().replace(telegram_tokn="t")


def test_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "fffusion.toml"
    config.write_text("workers = 3\nrate_per_minute = 7\n", encoding="utf-8")
    loaded = read_settings(config, env={"FFFUSION_RATE_PER_MINUTE": "9"})
    assert loaded.origins["workers"] == "file" and loaded.origins["rate_per_minute"] == "env"
    assert loaded.origins["lang"] == "default" and loaded.settings.limits.rate_per_minute == 9
