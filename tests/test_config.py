from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from core.errors import ConfigError


def test_file_then_environment_take_precedence_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "fffusion.toml"
    config.write_text('workers = 3\nmax_text_chars = 200\ntelegram_token = "123:file-token"\n', encoding="utf-8")
    settings = load_settings(env={"FFFUSION_CONFIG": str(config), "FFFUSION_MAX_TEXT_CHARS": "150"})
    assert settings.workers == 3
    assert settings.limits.max_text_chars == 150  # the environment wins over the file
    assert settings.telegram_token == "123:file-token"
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
    assert caught.value.key == "config.unknown" and caught.value.params["names"] == "wokers"
    config.write_text("workers = [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "config.bad_file"
