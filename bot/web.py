"""The project's one HTTP server: health check, result images by URL, the web page (try page and studio), the
KakaoTalk skill, and the Telegram webhook (added by the Telegram adapter through `routes`). It holds no state: any
number of instances go behind one load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from adapters.kakao.skill import KakaoConfig, KakaoSkill
from adapters.web.routes import BODY_DEADLINE, WebPages, WebShared
from bot.config import Settings
from core.errors import ConfigError
from core.service.chat import Conversation, Studio
from core.service.ephemeral import MemoryEphemeral, RedisEphemeral
from core.service.media import SUFFIX, Media, MediaStore
from core.service.pgmedia import PostgresMediaStore
from core.service.pgstore import PostgresStore
from core.service.service import MemeService, RateLimiter
from core.service.shared import Connected, RedisRateLimiter

log = logging.getLogger(__name__)

WEB_KEY = "web-key"  # the web page's signing key in Redis (core/service/ephemeral.py) and its file in the data dir


def validate(settings: Settings, chat: bool = True) -> None:
    """What one setting's rule cannot say (bot/config.py checks each value on its own): the KakaoTalk skill needs
    the public address Kakao fetches images from. `chat=False`: the web page alone needs no platform's settings."""
    if chat and settings.kakao.secret and not settings.http.public_url:
        raise ConfigError("kakao.public_url_missing")


@dataclass
class WebServer:
    app: web.Application
    runner: web.AppRunner
    media: Media
    kakao: KakaoSkill | None
    pages: WebPages

    @property
    def address(self) -> str:
        host = self.runner.addresses[0][0]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.port}/"

    @property
    def port(self) -> int:
        """The bound port (useful when FFFUSION_HTTP_PORT=0 picked a free one)."""
        return self.runner.addresses[0][1]

    async def stop(self) -> None:
        await self.runner.cleanup()  # stops accepting, then on_cleanup closes the skill and the store


def health_handler(service: MemeService) -> web.Handler:
    async def health(_: web.Request) -> web.Response:
        # 503 while a request would fail: no worker can take a job (all hung, stopped or being replaced; none
        # alive behind the queue), Redis or the database is down. The load balancer sees it, and the text says why
        problems = await service.health()
        if problems:
            return web.Response(status=503, text="".join(f"{p}\n" for p in problems))
        return web.Response(text="ok\n")

    return health


def media_handler(media: Media) -> web.Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        content = await media.get(name[: -len(SUFFIX)]) if name.endswith(SUFFIX) else None
        if content is None:
            raise web.HTTPNotFound()
        headers = {
            "Content-Type": "image/jpeg",
            # a person's face: no shared cache may keep it, so a deletion takes it off the web at once
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if isinstance(content, bytes):
            return web.Response(body=content, headers=headers)
        return web.FileResponse(content, headers=headers)

    return serve


Routes = Sequence[Callable[[web.Application], None]]


def body_deadline(timeout_s: float) -> Middleware:
    """A request body must arrive whole within timeout_s (HTTP 408 otherwise): a client that trickles it
    cannot hold a handler open. The body is read here once; handlers get it from the request's cache, except
    multipart uploads, which their handler streams by the deadline set here."""

    @web.middleware
    async def read_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_type.startswith("multipart/"):
            # uploads are read as a stream by their handler (under their own size limit), by this deadline
            request[BODY_DEADLINE] = asyncio.get_running_loop().time() + timeout_s
        elif request.body_exists:
            try:
                await asyncio.wait_for(request.read(), timeout_s)
            except TimeoutError:
                raise web.HTTPRequestTimeout() from None
        return await handler(request)

    return read_in_time


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # over the connection cap: closed at once, nothing read


class _CappedServer:
    """aiohttp's server with a cap on open connections; everything else passes through."""

    def __init__(self, server: web.Server, max_connections: int) -> None:
        self._server = server
        self._max = max_connections

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self._server.connections) >= self._max:
            log.warning("connection refused: %d open connections (FFFUSION_HTTP_MAX_CONNECTIONS)", self._max)
            return _Refused()
        return self._server()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class _CappedRunner(web.AppRunner):
    def __init__(self, app: web.Application, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._max_connections = max_connections

    async def _make_server(self) -> web.Server:
        return cast(web.Server, _CappedServer(await super()._make_server(), self._max_connections))


async def web_shared(service: MemeService, settings: Settings) -> WebShared:
    """The web page's keys, studio sessions and per-address limits: in Redis when the instances share one, so a
    page from one instance posts to another and the studio stays signed in; else in this process, with the key
    in the data folder (visitors keep their cookie across restarts)."""
    if settings.queue.redis_url:
        connected = cast(Connected, service.pool)  # the instance's queue holds its one Redis connection pool
        state = RedisEphemeral(connected)
        secret = settings.web.secret or await state.first(WEB_KEY, secrets.token_hex(32))
        return WebShared(secret.encode(), state, RedisRateLimiter(connected, settings.web.rate_per_address),
                         RedisRateLimiter(connected, settings.web.studio_logins_per_minute))
    secret = settings.web.secret or _key_file(settings.data_dir / WEB_KEY)
    return WebShared(secret.encode(), MemoryEphemeral(), RateLimiter(settings.web.rate_per_address),
                     RateLimiter(settings.web.studio_logins_per_minute))


def _key_file(path: Path) -> str:
    """The key in `path`, written whole (readable by the owner only) when there is none yet: two processes
    starting at once read the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)  # never replaces a key another process wrote first
        draft.unlink()
    return path.read_text(encoding="ascii").strip()


def build_app(
    service: MemeService, settings: Settings, media: Media, shared: WebShared, chat: bool = True,
    routes: Routes = (),
) -> tuple[web.Application, KakaoSkill | None, WebPages]:
    """`chat=False`: the web page alone (`fffusion web`), without the chat platforms' routes."""
    # uploads are read as streams, under their own limits
    app = web.Application(client_max_size=1 << 20, middlewares=[body_deadline(settings.http.body_timeout_s)])
    for add in routes:
        add(app)
    app.router.add_get("/healthz", health_handler(service))
    # one path segment: no directory listing, nothing outside the store's folder
    app.router.add_get("/media/{name}", media_handler(media))
    conversation = Conversation(service)
    pages = WebPages(conversation, Studio(service), media, settings, shared)
    pages.add_routes(app, try_page=settings.web.page or not chat)  # the studio by its token
    kakao = None
    if chat and settings.kakao.secret:
        kakao = KakaoSkill(conversation, media, KakaoConfig(
            secret=settings.kakao.secret,
            public_url=settings.http.public_url,
            image_hosts=settings.kakao.image_hosts,
            budget_s=settings.kakao.budget_s,
            callback_hosts=settings.kakao.callback_hosts,
        ))
        kakao.add_routes(app)

    async def close_parts(_: web.Application) -> None:
        await pages.close()
        if kakao is not None:
            await kakao.close()
        await media.close()

    app.on_cleanup.append(close_parts)
    return app, kakao, pages


def make_media(service: MemeService, settings: Settings) -> Media:
    """Result images in the shared database when the store is PostgreSQL (any instance serves any image), else
    as files in the data folder."""
    if isinstance(service.store, PostgresStore):
        return PostgresMediaStore(service.store, settings.storage.media_max_age_s, settings.storage.media_max_bytes)
    return MediaStore(settings.data_dir / "media", settings.storage.media_max_age_s, settings.storage.media_max_bytes)


async def start_web(service: MemeService, settings: Settings, chat: bool = True, routes: Routes = ()) -> WebServer:
    """Start the HTTP server inside the running loop (beside Telegram and Discord); `stop()` ends it. Its
    settings were validated before the models loaded (bot/app.serve calls `validate`)."""
    media = make_media(service, settings)
    await media.start()
    service.forget_uploads.append(media.forget)  # a deleted person's result images go with them
    app, kakao, pages = build_app(service, settings, media, await web_shared(service, settings), chat, routes)
    await pages.start()
    # aiohttp closes a connection that has not sent a request's headers within keepalive_timeout of opening
    # (or of its previous answer): that is the header read timeout, so slow senders are dropped
    runner = _CappedRunner(app, settings.http.max_connections, access_log=None, handle_signals=False,
                           keepalive_timeout=settings.http.header_timeout_s)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http.host, settings.http.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError("web.cannot_listen", host=settings.http.host, port=settings.http.port,
                          reason=exc.strerror or str(exc)) from None
    server = WebServer(app, runner, media, kakao, pages)
    log.info("web server on %s:%d%s%s", settings.http.host, server.port,
             " with the studio" if pages.studio_enabled else "", " and the KakaoTalk skill" if kakao else "")
    return server
