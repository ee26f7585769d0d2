"""The bot's settings: one object read from FFFUSION_* environment variables and an optional TOML file.

Precedence: defaults < config file (FFFUSION_CONFIG or --config) < environment. The settings are grouped by what
they configure (`Settings.telegram`, `.http`, `.limits`...), and each keeps one flat name for the environment and
the file: `FFFUSION_TELEGRAM_TOKEN` (`telegram_token` in the file) sets `settings.telegram.token`,
`FFFUSION_MAX_TEXT_CHARS` sets `settings.limits.max_text_chars` (PLACES). Every setting has a type and a rule (RULES: a
range, a set of values or a shape), checked once here, so a bad value stops the program before anything starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from core.errors import ConfigError
from core.limits import Limits
from core.messages import Localized, localized
from core.resources import bundled

ENV_PREFIX = "FFFUSION_"
# FFFUSION_* variables that are not settings: the settings file itself, and the tests' and benchmarks' own
NOT_SETTINGS = frozenset({"CONFIG", "CHROMIUM", "SCREENSHOTS"})
DEMO_CATALOG = bundled("demo")


def _user_dir(env: str, fallback: str) -> Path:
    base = os.environ.get(env)
    return (Path(base) if base else Path.home() / fallback) / "fffusion"


def _flat(name: str) -> dict[str, str]:
    """The metadata of a section's field whose flat name (FFFUSION_<NAME>, the settings file's key) is not the
    section's prefix and its own name: the names people's deployments use stay as they were."""
    return {"flat": name}


@dataclass(frozen=True)
class Recognition:
    """What finds the meme for a sentence and the faces in a picture, and whether the ranking learns from use."""

    # sentence model: "default" (bundled, offline) or a sentence-transformers name/path
    model: str = "default"
    face_backend: str = "auto"
    models_dir: Path | None = None
    learn_from_use: bool = True  # "다른 짤" and kept memes nudge the ranking for everyone


@dataclass(frozen=True)
class Queue:
    """Where the work runs: worker processes on this machine, or on a Redis queue (README, "Running on several
    machines"), and how long finished images are kept."""

    workers: int = 0  # 0 = one per CPU core
    redis_url: str = ""  # redis://host:6379/0; "" = the in-process worker pool, state in memory
    #: how often an idle `fffusion worker` looks for new jobs it was not nudged about
    poll_s: float = field(default=0.05, metadata=_flat("queue_poll_s"))
    results_cache_mb: int = 64  # finished images kept in memory, so a repeated request is instant
    results_cache_s: int = 300  # how long a finished image stays in the shared (Redis) results cache
    #: `fffusion worker` touches this file while it takes jobs (health checks)
    heartbeat: Path | None = field(default=None, metadata=_flat("worker_heartbeat"))


@dataclass(frozen=True)
class Storage:
    """People in the database, result images served by URL."""

    database_url: str = ""  # postgresql://user:password@host/db; "" = the SQLite file in data_dir
    media_max_age_s: int = 24 * 3600
    media_max_bytes: int = 1 << 30


@dataclass(frozen=True)
class Http:
    """The HTTP server (bot/web.py) runs only for what needs it: the KakaoTalk skill, a Telegram webhook, the web
    page or studio, the health check; on loopback unless told otherwise (the container image says 0.0.0.0)."""

    PREFIX: ClassVar[str] = "http_"
    host: str = "127.0.0.1"
    port: int = 8080
    header_timeout_s: float = 10.0  # a connection's request headers must arrive within this (slow clients)
    body_timeout_s: float = 15.0  # and its body within this
    max_connections: int = 1000  # open connections at once; more are closed as they arrive
    # addresses or networks (10.0.0.0/8) of the proxies whose X-Forwarded-For names the client; none = no proxy
    trusted_proxies: tuple[str, ...] = ()
    #: https://... as Kakao sees this server; image URLs are {public_url}/media/<id>.jpg
    public_url: str = field(default="", metadata=_flat("public_url"))
    #: serve GET /healthz even when nothing else needs HTTP (load balancers, containers)
    health_check: bool = field(default=False, metadata=_flat("health_check"))


@dataclass(frozen=True)
class Web:
    """The web page (adapters/web): the try page, and the studio when its token is set; visitors' faces expire."""

    PREFIX: ClassVar[str] = "web_"
    page: bool = False  # `fffusion run` also serves the try page (`fffusion web` always does)
    studio_token: str = field(default="", metadata=_flat("studio_token"))
    face_ttl_s: int = 24 * 3600
    # several instances behind one load balancer sign visitor cookies, CSRF tokens and studio sessions alike: with
    # this secret, else with a key kept in Redis (FFFUSION_REDIS_URL), else with one in <data dir>/web.key
    secret: str = ""
    max_form_fields: int = 32  # fields (files included) of one posted form; the studio's upload has 22
    max_form_bytes: int = 64 * 1024 * 1024  # everything one posted form carries
    rate_per_address: int = 60  # memes asked for from one client address per minute (all its visitors)
    #: studio sign-in attempts from one client address per minute
    studio_logins_per_minute: int = field(default=10, metadata=_flat("studio_logins_per_minute"))


@dataclass(frozen=True)
class Telegram:
    """adapters/telegram: runs when its token is set; another Bot API server (self-hosted telegram-bot-api,
    tests) by base URLs."""

    PREFIX: ClassVar[str] = "telegram_"
    token: str = ""
    base_url: str = ""  # "" = https://api.telegram.org/bot
    base_file_url: str = ""  # "" = https://api.telegram.org/file/bot
    # public HTTPS URL forwarded to this server's HTTP port (FFFUSION_HTTP_PORT): webhook mode, any number of
    # instances; "" = long polling (one instance)
    webhook_url: str = ""
    webhook_secret: str = ""  # X-Telegram-Bot-Api-Secret-Token; "" = derived from the bot token
    cache_chat: str = ""  # chat id the bot uploads inline-mode photos to (a private channel)
    inline_cache_s: int = 60  # how long Telegram may cache a person's inline results


@dataclass(frozen=True)
class Discord:
    """adapters/discord: runs when its token is set; another REST base and gateway (a proxy, tests) by URL."""

    PREFIX: ClassVar[str] = "discord_"
    token: str = ""
    api_base: str = ""  # "" = https://discord.com/api/v10
    gateway: str = ""  # "" = wss://gateway.discord.gg/
    guild_id: int | None = None  # development: sync the commands to this server only (instant)
    shards: str = ""  # "0-3/8": this instance runs shards 0 to 3 of 8; "" = every shard (AutoSharded)
    # the only hosts a posted picture is downloaded from: Discord's attachment CDN and its media proxy
    image_hosts: tuple[str, ...] = ("cdn.discordapp.com", "media.discordapp.net")


@dataclass(frozen=True)
class Kakao:
    """adapters/kakao: the skill runs when its secret (the skill URL's secret path segment) is set."""

    PREFIX: ClassVar[str] = "kakao_"
    secret: str = ""
    image_hosts: tuple[str, ...] = ("secure.kakaocdn.net", "talk.kakaocdn.net", "k.kakaocdn.net")
    budget_s: float = 3.8  # then answer useCallback (Open Builder waits 5 s)
    callback_hosts: tuple[str, ...] = ("bot-api.kakao.com",)  # the only hosts answers are POSTed to


@dataclass(frozen=True)
class Settings:
    """Grouped by what they configure; each setting keeps its flat name (FFFUSION_TELEGRAM_TOKEN is
    `settings.telegram.token`, FFFUSION_MAX_TEXT_CHARS `settings.limits.max_text_chars`; `replace` takes
    flat names)."""

    data_dir: Path = field(default_factory=lambda: _user_dir("XDG_DATA_HOME", ".local/share"))
    cache_dir: Path = field(default_factory=lambda: _user_dir("XDG_CACHE_HOME", ".cache"))
    catalog: Path = DEMO_CATALOG
    lang: str = "ko"
    log_level: str = "INFO"
    recognition: Recognition = field(default_factory=Recognition)
    queue: Queue = field(default_factory=Queue)
    storage: Storage = field(default_factory=Storage)
    http: Http = field(default_factory=Http)
    web: Web = field(default_factory=Web)
    telegram: Telegram = field(default_factory=Telegram)
    discord: Discord = field(default_factory=Discord)
    kakao: Kakao = field(default_factory=Kakao)
    limits: Limits = field(default_factory=Limits)

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name."""
        return {name: getattr(getattr(self, section), attr) if section else getattr(self, attr)
                for name, (section, attr) in PLACES.items()}

    def masked(self) -> dict[str, Any]:
        """Effective settings for display, secrets hidden."""
        return {name: _shown(name, value) for name, value in self.flat().items()}

    def replace(self, **flat: Any) -> Settings:
        """A copy with some settings changed, named by their flat names (what follows FFFUSION_, lower case), or
        a whole section by its name (`limits=Limits(...)`)."""
        unknown = sorted(set(flat) - set(PLACES) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"no such settings: {', '.join(unknown)}")
        top: dict[str, Any] = {}
        sections: dict[str, dict[str, Any]] = {}
        for name, value in flat.items():
            section, attr = PLACES.get(name, ("", name))
            if section:
                sections.setdefault(section, {})[attr] = value
            else:
                top[attr] = value
        for section, values in sections.items():
            top[section] = dataclasses.replace(getattr(self, section), **values)
        return dataclasses.replace(self, **top)


def _places() -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Flat name -> (its section, "" for the top level; its field), and flat name -> its type as written."""
    places: dict[str, tuple[str, str]] = {}
    types: dict[str, str] = {}
    for f in fields(Settings):
        section = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if not dataclasses.is_dataclass(section):
            places[f.name], types[f.name] = ("", f.name), str(f.type)
            continue
        prefix = getattr(section, "PREFIX", "")
        for g in fields(section):
            name = g.metadata.get("flat", prefix + g.name)
            places[name], types[name] = (f.name, g.name), str(g.type)
    return places, types


PLACES, TYPES = _places()


def is_secret(name: str) -> bool:
    # the database and Redis URLs may carry a password
    return name.endswith(("token", "secret", "password")) or name in ("database_url", "redis_url")


def _shown(name: str, value: Any) -> Any:
    """A value as it may be printed or logged: a secret's first two characters and its length only."""
    if is_secret(name) and value:
        text = str(value)
        return f"{text[:2] if len(text) >= 8 else ''}…({len(text)} chars)"
    return value


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


@dataclass(frozen=True)
class Rule:
    """What one setting accepts beyond its type: numbers within [lo, hi], text among `choices` or of a `shape` (a
    regular expression the whole text, or each item of a list, must match, or a parser it must pass; named for
    people by the message key `config.expect.<shape name>`). Text may be "" (unset) unless `required`."""

    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    shape: str = ""
    required: bool = False


def _between(lo: float, hi: float) -> Rule:
    return Rule(lo=lo, hi=hi)


_HOST = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
_PORT = r"(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})"
SHAPES: dict[str, str | Callable[[str], object]] = {
    "path": r".+",
    "text": r".+",
    "host": _HOST + r"|[0-9A-Fa-f:]+",  # a name, an IPv4 address or an IPv6 one
    # an allow-list entry (adapters/fetch.py host_set): a name or an address, with a port or not; IPv6 in brackets
    "host_port": rf"({_HOST}|\[[0-9A-Fa-f:.]+\])(:{_PORT})?",
    "network": lambda text: ipaddress.ip_network(text, strict=False),  # an address, or a network (10.0.0.0/8)
    "url": r"https?://[^\s/?#]+[^\s]*",
    "ws_url": r"wss?://[^\s/?#]+[^\s]*",
    "https_url": r"https://[^\s/?#]+[^\s]*",
    # Bot API tokens: the bot's numeric id, a colon, 35 characters (BotFather's /token)
    "telegram_token": r"\d{1,20}:[A-Za-z0-9_-]{30,64}",
    # Discord bot tokens: three base64url parts joined by dots (the Developer Portal's Bot page, without "Bot ")
    "discord_token": r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{20,}",
    "url_secret": r"[A-Za-z0-9._~-]{16,256}",  # one URL path segment without escaping, hard to guess
    "long_token": r"\S{16,}",
    "webhook_secret": r"[A-Za-z0-9_-]{1,256}",  # what Telegram accepts as a webhook's secret_token
    "chat_id": r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}",
    "shards": r"\d+(-\d+)?/\d+",
    "postgres_url": r"postgres(ql)?://\S+",
    "redis_url": r"(rediss?|unix)://\S+",
}

_HOURS = 7 * 24 * 3600
_MB = 1 << 20
RULES: dict[str, Rule] = {
    # where things are
    "data_dir": Rule(shape="path", required=True),
    "cache_dir": Rule(shape="path", required=True),
    "catalog": Rule(shape="path", required=True),  # that it holds a catalog is checked before start (bot/app.py)
    "model": Rule(shape="text", required=True),
    "face_backend": Rule(choices=("auto", "mesh", "dlib", "insightface")),
    "models_dir": Rule(shape="path"),
    "workers": _between(0, 256),
    "lang": Rule(choices=("ko", "en")),
    "log_level": Rule(choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    "results_cache_mb": _between(0, 65536),
    "learn_from_use": Rule(),
    "telegram_token": Rule(shape="telegram_token"),
    "discord_token": Rule(shape="discord_token"),
    "web_page": Rule(),
    "health_check": Rule(),
    "http_host": Rule(shape="host", required=True),
    "http_port": _between(0, 65535),  # 0: any free port
    "http_header_timeout_s": _between(0.1, 3600),
    "http_body_timeout_s": _between(0.1, 3600),
    "http_max_connections": _between(1, 1_000_000),
    "public_url": Rule(shape="url"),
    "kakao_secret": Rule(shape="url_secret"),
    "kakao_image_hosts": Rule(shape="host_port", required=True),
    "kakao_budget_s": _between(0.1, 4.5),  # Open Builder drops an answer after 5 s
    "kakao_callback_hosts": Rule(shape="host_port", required=True),
    "media_max_age_s": _between(1, 365 * 24 * 3600),
    "studio_token": Rule(shape="long_token"),
    "web_face_ttl_s": _between(1, 365 * 24 * 3600),
    "web_secret": Rule(shape="long_token"),
    "web_max_form_fields": _between(1, 100_000),  # the studio's upload needs 22
    "web_max_form_bytes": _between(1024, 1 << 40),
    "web_rate_per_address": _between(1, 1_000_000),
    "studio_logins_per_minute": _between(1, 10_000),
    "http_trusted_proxies": Rule(shape="network"),
    "media_max_bytes": _between(_MB, 1 << 50),
    "telegram_base_url": Rule(shape="url"),
    "telegram_base_file_url": Rule(shape="url"),
    "telegram_webhook_url": Rule(shape="https_url"),
    "telegram_webhook_secret": Rule(shape="webhook_secret"),
    "telegram_cache_chat": Rule(shape="chat_id"),
    "telegram_inline_cache_s": _between(0, 86400),
    "discord_api_base": Rule(shape="url"),
    "discord_gateway": Rule(shape="ws_url"),
    "discord_guild_id": _between(1, 2**63 - 1),
    "discord_shards": Rule(shape="shards"),
    "database_url": Rule(shape="postgres_url"),
    "redis_url": Rule(shape="redis_url"),
    "queue_poll_s": _between(0.005, 60),
    "results_cache_s": _between(1, _HOURS),
    "worker_heartbeat": Rule(shape="path"),
    "discord_image_hosts": Rule(shape="host_port", required=True),
    # limits (core/limits.py)
    "max_text_chars": _between(1, 100_000),
    "max_image_bytes": _between(1024, 1 << 31),
    "max_image_pixels": _between(10_000, 1_000_000_000),
    "max_decode_pixels": _between(10_000, 1_000_000_000),
    "max_full_decode_pixels": _between(10_000, 1_000_000_000),
    "min_face_px": _between(8, 4096),
    "max_output_side": _between(64, 8192),
    "min_output_side": _between(64, 8192),
    "mark": Rule(),
    "subtitle_max_chars": _between(1, 1000),
    "max_output_bytes": _between(10_000, 1 << 30),
    "max_faces_per_person": _between(1, 100),
    "rate_per_minute": _between(1, 100_000),
    "people_in_memory": _between(1, 1_000_000_000),
    "queue_length": _between(1, 1_000_000),
    "job_timeout_s": _between(0.5, 3600),
    "job_tries": _between(1, 100),
    "job_rerun_after_s": _between(0.1, 3600),
    "job_wait_margin_s": _between(0, 3600),
    "reply_wait_s": _between(1, _HOURS),
    "health_timeout_s": _between(0.1, 600),
    "face_shape": _between(0, 1),
    "confusable_similarity": _between(0, 1),
    "clip_max_bytes": _between(1024, 1 << 31),
    "clip_max_frames": _between(1, 10_000),
    "clip_max_seconds": _between(0.1, 3600),
    "clip_max_frame_pixels": _between(10_000, 100_000_000),
    "clip_side": _between(64, 4096),
    "clip_handover_frames": _between(0, 100),
    "clip_smoothing_frames": _between(0, 100),
}


class Bad(ValueError):
    """A value that does not fit its setting; `expected` says in every language what would."""

    def __init__(self, expected: Localized) -> None:
        super().__init__()
        self.expected = expected


def _number(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _in_range(raw: Any, rule: Rule, whole: bool) -> float:
    """A number within the rule's range; TOML's booleans and fractions for a whole number are refused."""
    assert rule.lo is not None and rule.hi is not None
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(raw)
        if whole and not re.fullmatch(r"\s*[+-]?\d+\s*", str(raw)):
            raise ValueError(raw)
        value = int(raw) if whole else float(raw)
    except (ValueError, OverflowError):
        value = None
    if value is None or not rule.lo <= value <= rule.hi:  # NaN fails this too
        raise Bad(localized("config.expect.whole" if whole else "config.expect.number",
                            lo=_number(rule.lo), hi=_number(rule.hi)))
    return value


def _check_text(text: str, rule: Rule) -> str:
    if rule.choices:
        if text not in rule.choices:
            raise Bad(localized("config.expect.choice", choices=", ".join(rule.choices)))
    elif rule.shape and (text or rule.required) and not _fits(text, SHAPES[rule.shape]):
        raise Bad(localized(f"config.expect.{rule.shape}"))
    return text


def _fits(text: str, shape: str | Callable[[str], object]) -> bool:
    if isinstance(shape, str):
        return re.fullmatch(shape, text) is not None
    try:
        shape(text)
    except ValueError:
        return False
    return True


def convert(name: str, raw: Any, annotation: str) -> Any:
    """A raw value (text from the environment, or a TOML value) as its setting's type, checked by its rule."""
    kind = annotation.replace(" ", "")
    rule = RULES[name]
    if kind in ("int", "float"):
        return _in_range(raw, rule, whole=kind == "int")
    if kind == "int|None":
        return _in_range(raw, rule, whole=True) if str(raw).strip() else None
    if kind == "bool":
        text = str(raw).strip().lower()
        if not isinstance(raw, bool) and text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise Bad(localized("config.expect.bool"))
        return raw if isinstance(raw, bool) else text in ("1", "true", "yes", "on")
    if kind.startswith("tuple[str"):
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        hosts = tuple(_check_text(str(s).strip(), rule) for s in items if str(s).strip())
        if rule.required and not hosts:
            raise Bad(localized(f"config.expect.{rule.shape}"))
        return hosts
    if not isinstance(raw, str):  # a TOML number or table where text belongs: said as the rule says it
        _check_text("", dataclasses.replace(rule, required=True))
        raise Bad(localized("config.expect.text"))
    text = _check_text(raw.strip().upper() if name == "log_level" else raw.strip(), rule)
    if kind.startswith("Path"):
        return Path(os.path.expanduser(text)) if text else None
    return text


class Loaded(NamedTuple):
    settings: Settings
    #: where each setting's value came from: "default", "file" or "env"
    origins: dict[str, str]
    path: Path | None


def _unknown(names: list[str], known: list[str]) -> ConfigError:
    def hint(name: str) -> str:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        return f"{name} ({close[0]}?)" if close else name

    return ConfigError("config.unknown", names=", ".join(hint(n) for n in names))


def _flattened(document: dict[str, Any]) -> dict[str, Any]:
    """The settings file's values by flat name: a key at the top (`telegram_token = ...`), or in its section's
    table (`[telegram]` `token = ...`); a key no section has is kept as "section.key", refused as unknown."""
    by_place = {place: name for name, place in PLACES.items()}
    sections = {section for section, _ in PLACES.values() if section}
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key in sections and isinstance(value, dict):
            flat.update({by_place.get((key, name), f"{key}.{name}"): v for name, v in value.items()})
        else:
            flat[key] = value
    return flat


def read_settings(config_file: Path | None = None, env: Mapping[str, str] | None = None) -> Loaded:
    """The settings with where each value came from; ConfigError (one line, naming the setting as it was written:
    FFFUSION_X for the environment, x in the file) on the first value that does not fit."""
    env = os.environ if env is None else env
    types = TYPES
    path = config_file or (Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None)
    from_file: dict[str, Any] = {}
    if path is not None:
        try:
            from_file = _flattened(tomllib.loads(path.read_text(encoding="utf-8")))
        except OSError:
            raise ConfigError("file.unreadable", path=str(path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config.bad_file", path=str(path), reason=str(exc)) from None
        unknown = sorted(set(from_file) - set(types))
        if unknown:
            raise _unknown(unknown, list(types))
    from_env = {key[len(ENV_PREFIX):].lower(): raw for key, raw in env.items()
                if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):] not in NOT_SETTINGS}
    unknown = sorted(set(from_env) - set(types))
    if unknown:
        raise _unknown([env_name(n) for n in unknown], [env_name(n) for n in types])
    values: dict[str, Any] = {}
    origins = dict.fromkeys(types, "default")
    for origin, given in (("file", from_file), ("env", from_env)):
        for name, raw in given.items():
            try:
                values[name] = convert(name, raw, types[name])
            except Bad as bad:
                shown = env_name(name) if origin == "env" else f"{path}: {name}"
                raise ConfigError("config.bad_value", name=shown, value=_shown(name, raw),
                                  expected=bad.expected) from None
            origins[name] = origin
    return Loaded(Settings().replace(**values), origins, path)


def load_settings(config_file: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    return read_settings(config_file, env).settings
