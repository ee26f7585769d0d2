"""The bot's settings: one object read from FFFUSION_* environment variables and an optional TOML file.

Precedence: defaults < config file (FFFUSION_CONFIG or --config) < environment. Limits are flattened:
`FFFUSION_MAX_TEXT_CHARS` sets `settings.limits.max_text_chars`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.limits import Limits
from core.resources import bundled

ENV_PREFIX = "FFFUSION_"
DEMO_CATALOG = bundled("demo")


def _user_dir(env: str, fallback: str) -> Path:
    base = os.environ.get(env)
    return (Path(base) if base else Path.home() / fallback) / "fffusion"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: _user_dir("XDG_DATA_HOME", ".local/share"))
    cache_dir: Path = field(default_factory=lambda: _user_dir("XDG_CACHE_HOME", ".cache"))
    catalog: Path = DEMO_CATALOG
    # sentence model: "default" (bundled, offline) or a sentence-transformers name/path
    model: str = "default"
    face_backend: str = "auto"
    models_dir: Path | None = None
    workers: int = 0  # 0 = one per CPU core
    lang: str = "ko"
    log_level: str = "INFO"
    results_cache_mb: int = 64  # finished images kept in memory, so a repeated request is instant
    learn_from_use: bool = True  # "다른 짤" and kept memes nudge the ranking for everyone
    # platforms: each runs when its token (or secret) is set
    telegram_token: str = ""
    discord_token: str = ""
    # the HTTP server (bot/web.py): result images by URL and the KakaoTalk skill
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    http_header_timeout_s: float = 10.0  # a connection's request headers must arrive within this (slow clients)
    http_body_timeout_s: float = 15.0  # and its body within this
    http_max_connections: int = 1000  # open connections at once; more are closed as they arrive
    public_url: str = ""  # https://... as Kakao sees this server; image URLs are {public_url}/media/<id>.jpg
    kakao_secret: str = ""  # secret path segment of the skill URL; the skill runs when it is set
    kakao_image_hosts: tuple[str, ...] = ("secure.kakaocdn.net", "talk.kakaocdn.net", "k.kakaocdn.net")
    kakao_budget_s: float = 3.8  # then answer useCallback (Open Builder waits 5 s)
    kakao_callback_hosts: tuple[str, ...] = ("bot-api.kakao.com",)  # the only hosts answers are POSTed to
    media_max_age_s: int = 24 * 3600
    # the web page (adapters/web): the studio runs when its token is set; visitors' faces expire
    studio_token: str = ""
    web_face_ttl_s: int = 24 * 3600
    # several instances behind one load balancer sign visitor cookies, CSRF tokens and studio sessions alike: with
    # this secret, else with a key kept in Redis (FFFUSION_REDIS_URL), else with one in <data dir>/web.key
    web_secret: str = ""
    web_max_form_fields: int = 32  # fields (files included) of one posted form; the studio's upload has 22
    web_max_form_bytes: int = 64 * 1024 * 1024  # everything one posted form carries
    web_rate_per_address: int = 60  # memes asked for from one client address per minute (all its visitors)
    studio_logins_per_minute: int = 10  # studio sign-in attempts from one client address per minute
    # addresses or networks (10.0.0.0/8) of the proxies whose X-Forwarded-For names the client; none = no proxy
    http_trusted_proxies: tuple[str, ...] = ()
    media_max_bytes: int = 1 << 30
    # Telegram (adapters/telegram); another Bot API server (self-hosted telegram-bot-api, tests) by base URLs
    telegram_base_url: str = ""  # "" = https://api.telegram.org/bot
    telegram_base_file_url: str = ""  # "" = https://api.telegram.org/file/bot
    # public HTTPS URL forwarded to this server's HTTP port (FFFUSION_HTTP_PORT): webhook mode, any number of
    # instances; "" = long polling (one instance)
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""  # X-Telegram-Bot-Api-Secret-Token; "" = derived from the bot token
    telegram_cache_chat: str = ""  # chat id the bot uploads inline-mode photos to (a private channel)
    telegram_inline_cache_s: int = 60  # how long Telegram may cache a person's inline results
    # Discord (adapters/discord); another REST base and gateway (a proxy, tests) by URL
    discord_api_base: str = ""  # "" = https://discord.com/api/v10
    discord_gateway: str = ""  # "" = wss://gateway.discord.gg/
    discord_guild_id: int | None = None  # development: sync the commands to this server only (instant)
    discord_shards: str = ""  # "0-3/8": this instance runs shards 0 to 3 of 8; "" = every shard (AutoSharded)
    # several machines (README, "Running on several machines"): people in PostgreSQL, jobs on a Redis queue
    database_url: str = ""  # postgresql://user:password@host/db; "" = the SQLite file in data_dir
    redis_url: str = ""  # redis://host:6379/0; "" = the in-process worker pool, state in memory
    queue_poll_s: float = 0.05  # how often an idle `fffusion worker` looks for new jobs it was not nudged about
    results_cache_s: int = 300  # how long a finished image stays in the shared (Redis) results cache
    # the only hosts a posted picture is downloaded from: Discord's attachment CDN and its media proxy
    discord_image_hosts: tuple[str, ...] = ("cdn.discordapp.com", "media.discordapp.net")
    limits: Limits = field(default_factory=Limits)

    def masked(self) -> dict[str, Any]:
        """Effective settings for display, secrets hidden."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                out.update({k: v for k, v in dataclasses.asdict(value).items()})
                continue
            if is_secret(f.name) and value:
                value = f"{str(value)[:2]}…({len(str(value))} chars)"
            out[f.name] = value
        return out


def is_secret(name: str) -> bool:
    # the database and Redis URLs may carry a password
    return name.endswith(("token", "secret", "password")) or name in ("database_url", "redis_url")


def _convert(name: str, raw: Any, annotation: str) -> Any:
    kind = annotation.replace(" ", "")
    try:
        if kind in ("int",):
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return text in ("1", "true", "yes", "on")
        if kind.startswith("Path"):
            return Path(os.path.expanduser(str(raw))) if str(raw) else None
        if kind.startswith("tuple[str"):
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(s.strip() for s in items if str(s).strip())
        if kind.startswith("int|None"):
            return int(raw) if str(raw).strip() else None
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError("config.bad_value", name=ENV_PREFIX + name.upper(), value=str(raw)) from None


def _apply(cls: type, base: Any, values: Mapping[str, Any]) -> Any:
    changes = {}
    for f in fields(cls):
        if f.name in values:
            changes[f.name] = _convert(f.name, values[f.name], str(f.type))
    return dataclasses.replace(base, **changes) if changes else base


def load_settings(config_file: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or (Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None)
    if path is not None:
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except OSError:
            raise ConfigError("file.unreadable", path=str(path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config.bad_file", path=str(path), reason=str(exc)) from None
    known = {f.name for f in fields(Settings)} | {f.name for f in fields(Limits)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError("config.unknown", names=", ".join(unknown))
    for key, raw in env.items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
            name = key[len(ENV_PREFIX) :].lower()
            if name in known:
                values[name] = raw
    settings = _apply(Settings, Settings(), values)
    limits = _apply(Limits, settings.limits, values)
    return dataclasses.replace(settings, limits=limits)
