"""The project's one HTTP server: health check, result images by URL, the web page (try page and studio) and
the KakaoTalk skill.

Other routes (a Telegram webhook) join the same aiohttp application through `WebServer.app` before start.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from aiohttp import web

from adapters.kakao.skill import KakaoConfig, KakaoSkill
from adapters.web.routes import MIN_STUDIO_TOKEN, WebPages
from bot.config import Settings
from core.errors import ConfigError
from core.service.media import SUFFIX, MediaStore
from core.service.service import MemeService

log = logging.getLogger(__name__)

MIN_SECRET = 16
_SECRET_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
KAKAO_MAX_WAIT_S = 4.5  # Open Builder drops an answer after 5 s; keep a margin for the network


def validate(settings: Settings, chat: bool = True) -> None:
    """Fail fast (exit 2) on web settings that cannot work, before anything heavy starts; `chat=False`: the web
    page alone, which needs no chat platform's settings."""
    if not 0 <= settings.http_port <= 65535:
        raise ConfigError("config.bad_value", name="FFFUSION_HTTP_PORT", value=str(settings.http_port))
    if settings.media_max_age_s <= 0 or settings.media_max_bytes <= 0:
        raise ConfigError("config.bad_value", name="FFFUSION_MEDIA_MAX_AGE_S / FFFUSION_MEDIA_MAX_BYTES",
                          value=f"{settings.media_max_age_s} / {settings.media_max_bytes}")
    if settings.studio_token and len(settings.studio_token) < MIN_STUDIO_TOKEN:
        raise ConfigError("studio.token_short", min=MIN_STUDIO_TOKEN)
    if settings.web_face_ttl_s <= 0:
        raise ConfigError("config.bad_value", name="FFFUSION_WEB_FACE_TTL_S", value=str(settings.web_face_ttl_s))
    if not (chat and settings.kakao_secret):
        return
    if len(settings.kakao_secret) < MIN_SECRET or not _SECRET_RE.match(settings.kakao_secret):
        raise ConfigError("kakao.secret_short")
    if not settings.public_url:
        raise ConfigError("kakao.public_url_missing")
    if not settings.public_url.startswith(("https://", "http://")):
        raise ConfigError("config.bad_value", name="FFFUSION_PUBLIC_URL", value=settings.public_url)
    if not 0 < settings.kakao_budget_s <= KAKAO_MAX_WAIT_S:
        raise ConfigError("config.bad_value", name="FFFUSION_KAKAO_BUDGET_S",
                          value=str(settings.kakao_budget_s))


@dataclass
class WebServer:
    app: web.Application
    runner: web.AppRunner
    media: MediaStore
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


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def media_handler(media: MediaStore) -> web.Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = media.path(name[: -len(SUFFIX)]) if name.endswith(SUFFIX) else None
        if path is None:
            raise web.HTTPNotFound()
        headers = {
            "Content-Type": "image/jpeg",
            # the file never changes under its id; it may be cached until it expires here
            "Cache-Control": f"public, max-age={int(media.remaining_s(path))}, immutable",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        return web.FileResponse(path, headers=headers)

    return serve


def build_app(
    service: MemeService, settings: Settings, media: MediaStore, chat: bool = True
) -> tuple[web.Application, KakaoSkill | None, WebPages]:
    """`chat=False`: the web page alone (`fffusion web`), without the chat platforms' routes."""
    app = web.Application(client_max_size=1 << 20)  # uploads are read as streams, under their own limits
    app.router.add_get("/healthz", health)
    # one path segment: no directory listing, nothing outside the store's folder
    app.router.add_get("/media/{name}", media_handler(media))
    pages = WebPages(service, media, settings)
    pages.add_routes(app)
    kakao = None
    if chat and settings.kakao_secret:
        kakao = KakaoSkill(service, media, KakaoConfig(
            secret=settings.kakao_secret,
            public_url=settings.public_url,
            image_hosts=settings.kakao_image_hosts,
            budget_s=settings.kakao_budget_s,
        ))
        kakao.add_routes(app)

    async def close_parts(_: web.Application) -> None:
        await pages.close()
        if kakao is not None:
            await kakao.close()
        await media.close()

    app.on_cleanup.append(close_parts)
    return app, kakao, pages


async def start_web(service: MemeService, settings: Settings, chat: bool = True) -> WebServer:
    """Start the HTTP server inside the running loop (beside Telegram and Discord); `stop()` ends it."""
    validate(settings, chat)
    media = MediaStore(settings.data_dir / "media", settings.media_max_age_s, settings.media_max_bytes)
    await media.start()
    service.forget_uploads.append(media.forget)  # a deleted person's result images go with them
    app, kakao, pages = build_app(service, settings, media, chat)
    await pages.start()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError("web.cannot_listen", host=settings.http_host, port=settings.http_port,
                          reason=exc.strerror or str(exc)) from None
    server = WebServer(app, runner, media, kakao, pages)
    log.info("web server on %s:%d%s%s", settings.http_host, server.port,
             " with the studio" if pages.studio_enabled else "", " and the KakaoTalk skill" if kakao else "")
    return server
