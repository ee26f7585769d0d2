"""Start-up and shut-down wiring: one process runs the core service and every configured platform."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from bot.config import Settings
from core.catalog.catalog import load_catalog
from core.compute.contract import WorkerConfig
from core.errors import ConfigError
from core.recommend.feedback import FeedbackSettings
from core.service.chat import Conversation
from core.service.service import MemeService
from core.service.store import PeopleStore, Store

log = logging.getLogger(__name__)


class Runner(Protocol):
    async def stop(self) -> None: ...


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        catalog_dir=settings.catalog,
        cache_dir=settings.cache_dir,
        model=settings.recognition.model,
        face_backend=settings.recognition.face_backend,
        models_dir=settings.recognition.models_dir,
        limits=settings.limits,
    )


def make_store(settings: Settings) -> PeopleStore:
    """PostgreSQL when FFFUSION_DATABASE_URL is set, else the SQLite file in the data folder."""
    if settings.storage.database_url:
        from core.service.pgstore import PostgresStore

        return PostgresStore(settings.storage.database_url)
    return Store(settings.data_dir / "fffusion.sqlite3")


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[MemeService]:
    """The service, started, and closed on the way out: the embedded set-up (SQLite, the in-process pool the
    service makes and closes itself, state in memory) or, with FFFUSION_REDIS_URL, a bot instance that holds no
    state: jobs on the Redis queue (made, started and closed here), rate limits and results cache in Redis, the
    rest in PostgreSQL."""
    async with contextlib.AsyncExitStack() as stack:
        shared: dict[str, Any] = {}
        if settings.queue.redis_url:
            if not settings.storage.database_url:
                raise ConfigError("scale.redis_needs_database")
            from core.compute.redis.client import QueuePool
            from core.service.shared import RedisPending, RedisRateLimiter, RedisResultCache

            limits = settings.limits
            queue = QueuePool(settings.queue.redis_url, limits.queue_length, limits.job_timeout_s,
                              tries=limits.job_tries, rerun_after_s=limits.job_rerun_after_s,
                              wait_margin_s=limits.job_wait_margin_s)
            await queue.start()
            stack.push_async_callback(queue.close)
            shared = dict(
                pool=queue,
                rate=RedisRateLimiter(queue, settings.limits.rate_per_minute),
                results=RedisResultCache(queue, settings.queue.results_cache_s),
                pending=RedisPending(queue, limits.reply_wait_s),
            )
        service = MemeService(
            worker_config(settings),
            settings.data_dir,
            workers=settings.queue.workers,
            results_cache_mb=settings.queue.results_cache_mb,
            feedback=FeedbackSettings(enabled=settings.recognition.learn_from_use),
            store=make_store(settings),
            **shared,
        )
        await service.start()
        stack.push_async_callback(service.close)
        yield service


def check_start(settings: Settings) -> None:
    """What would only fail once models load and servers start (about 15 s in), checked first: the catalog folder
    and insightface's files. A ConfigError here is one line and exit 2."""
    load_catalog(settings.catalog, check_images=False)
    if settings.recognition.face_backend == "insightface":
        if settings.recognition.models_dir is None:
            raise ConfigError("face.models_dir_missing")
        from core.faces import insight_engine  # here: the face engines load OpenCV, which the bot side never needs

        insight_engine.check_files(settings.recognition.models_dir)


def needs_http(settings: Settings, chat: bool = True) -> bool:
    """HTTP is served only for what needs it: the KakaoTalk skill, a Telegram webhook, the web page or the studio,
    the health check; `chat=False` (`fffusion web`) is the web page."""
    return not chat or bool(
        settings.kakao.secret or (settings.telegram.token and settings.telegram.webhook_url) or settings.web.page
        or settings.web.studio_token or settings.http.health_check
    )


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, chat: bool = True,
    started: Callable[[str], None] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (or `stop` is set): every chat platform configured and, when something needs it,
    the HTTP server (web page, studio, media, KakaoTalk skill, Telegram webhook, health). Exits 2 when nothing is
    configured to run. `chat=False`: the web page alone (`fffusion web`). `started` is called with the HTTP
    server's address once it serves."""
    from bot import web

    if chat and not (settings.telegram.token or settings.discord.token or settings.kakao.secret
                     or settings.web.page):
        raise ConfigError("run.nothing_configured")
    web.validate(settings, chat)  # fail on bad settings before the models load
    check_start(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = contextlib.AsyncExitStack()
    service = await running.enter_async_context(running_service(settings))
    conversation = Conversation(service)  # what the chat platforms speak to
    runners: list[Runner] = []
    try:
        telegram = None
        if chat and settings.telegram.token:
            from adapters.telegram.bot import TelegramBot

            telegram = TelegramBot(conversation, settings.telegram)
        if needs_http(settings, chat):
            # webhook mode: Telegram's updates arrive on this same HTTP server
            routes = [telegram.add_routes] if telegram is not None and telegram.webhook_url else []
            server = await web.start_web(service, settings, chat, routes)
            runners.append(server)
            if started is not None:
                started(server.address)
        if telegram is not None:
            await telegram.start()
            runners.append(telegram)
        if chat and settings.discord.token:
            from adapters.discord.bot import start_discord

            runners.append(await start_discord(conversation, settings.discord))
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
        await running.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
