"""Start-up and shut-down wiring: one process runs the core service and every configured platform."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Protocol

from bot.config import Settings
from core.errors import ConfigError
from core.recommend.feedback import FeedbackSettings
from core.service.service import MemeService
from core.service.worker import WorkerConfig

log = logging.getLogger(__name__)


class Runner(Protocol):
    async def stop(self) -> None: ...


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        catalog_dir=settings.catalog,
        cache_dir=settings.cache_dir,
        model=settings.model,
        face_backend=settings.face_backend,
        models_dir=settings.models_dir,
        limits=settings.limits,
    )


def make_service(settings: Settings) -> MemeService:
    return MemeService(
        worker_config(settings),
        settings.data_dir,
        workers=settings.workers,
        results_cache_mb=settings.results_cache_mb,
        feedback=FeedbackSettings(enabled=settings.learn_from_use),
    )


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, chat: bool = True,
    started: Callable[[str], None] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (or `stop` is set): the HTTP server (web page, media, KakaoTalk skill) and
    every chat platform configured. Exits 2 when no chat platform is configured, unless `chat=False` (the web
    page alone, `fffusion web`). `started` is called with the web page's address once it serves."""
    from bot import web

    if chat and not (settings.telegram_token or settings.discord_token or settings.kakao_secret):
        raise ConfigError("run.nothing_configured")
    web.validate(settings, chat)  # fail on bad settings before the models load
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    service = make_service(settings)
    await service.start()
    runners: list[Runner] = []
    try:
        server = await web.start_web(service, settings, chat)
        runners.append(server)
        if started is not None:
            started(server.address)
        if chat and settings.telegram_token:
            from adapters.telegram.bot import start_telegram

            runners.append(await start_telegram(service, settings))
        if chat and settings.discord_token:
            from adapters.discord.bot import start_discord

            runners.append(await start_discord(service, settings))
        log.info("fffusion is running; Ctrl-C or SIGTERM stops it")
        await stop.wait()
        log.info("stopping")
    finally:
        # Platforms stop first so that in-flight requests finish or get a message, then the workers go.
        for runner in reversed(runners):
            try:
                await runner.stop()
            except Exception:
                log.exception("stopping %s failed", type(runner).__name__)
        await service.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
