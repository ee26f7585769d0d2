"""Builds the PTB Application and runs it inside an already running asyncio loop, beside Discord and Kakao.

Long polling by default, for a single instance. With `telegram_webhook_url` set, Telegram POSTs updates to that
public URL; the operator's TLS proxy or load balancer forwards them to the project's one aiohttp server (bot/web.py,
`add_routes`) of any instance, so several instances share one bot. The secret header Telegram sends with each
update proves where it comes from; every instance derives the same one from the bot token unless it is set.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, Defaults

from adapters.telegram.handlers import ALLOWED_UPDATES, TelegramHandlers, set_commands
from adapters.telegram.retry import RetryingLimiter
from core.errors import ConfigError, ServiceError
from core.service.chat import Conversation

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 64  # updates handled at once; the service's bounded queue says "busy" beyond its length
READ_TIMEOUT_S = 20.0  # a photo upload to Telegram can take a while
POLL_TIMEOUT_S = 30
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

App = Application[Any, Any, Any, Any, Any, Any]


class TelegramSettings(Protocol):
    """The settings this adapter reads (bot.config.Settings.telegram, from FFFUSION_TELEGRAM_*)."""

    @property
    def token(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def base_file_url(self) -> str: ...
    @property
    def webhook_url(self) -> str: ...
    @property
    def webhook_secret(self) -> str: ...
    @property
    def cache_chat(self) -> str: ...
    @property
    def inline_cache_s(self) -> int: ...


def build_application(conversation: Conversation, settings: TelegramSettings) -> App:
    """The bot with all its handlers."""
    # httpx logs every request URL at INFO, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    builder = (
        Application.builder()
        .token(settings.token)
        .concurrent_updates(CONCURRENT_UPDATES)
        .rate_limiter(RetryingLimiter())
        .defaults(Defaults(allow_sending_without_reply=True))
        .read_timeout(READ_TIMEOUT_S)
    )
    if settings.base_url:
        builder = builder.base_url(settings.base_url)
    if settings.base_file_url:
        builder = builder.base_file_url(settings.base_file_url)
    if settings.webhook_url:
        builder = builder.updater(None)  # updates arrive through add_routes
    app = builder.build()
    TelegramHandlers(conversation, settings.cache_chat, settings.inline_cache_s).register(app)
    return app


class TelegramBot:
    """`start()` / `stop()` inside the running loop; `stop()` lets requests being handled finish first."""

    def __init__(self, conversation: Conversation, settings: TelegramSettings) -> None:
        self.app = build_application(conversation, settings)
        self.base_url = settings.base_url or "https://api.telegram.org/bot"
        self.webhook_url: str = settings.webhook_url
        self.webhook_path = urlsplit(self.webhook_url).path or "/telegram"
        self._secret: str = settings.webhook_secret or webhook_secret(settings.token)

    async def start(self) -> None:
        try:
            await self.app.initialize()  # getMe: proves the token and the server
        except InvalidToken:
            raise ConfigError("telegram.bad_token") from None
        except TelegramError as err:
            raise ServiceError("telegram.unreachable", url=self.base_url, reason=str(err)) from None
        try:
            await set_commands(self.app.bot)
        except TelegramError as err:
            log.warning("telegram: command menu not set: %s", err)
        await self.app.start()
        if self.webhook_url:
            try:
                # every instance sets the same URL and secret: setting it again changes nothing
                await self.app.bot.set_webhook(self.webhook_url, secret_token=self._secret,
                                               allowed_updates=ALLOWED_UPDATES)
            except (TelegramError, OSError) as err:
                await self.stop()
                raise ConfigError("telegram.webhook_failed", url=self.webhook_url, reason=str(err)) from None
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(timeout=POLL_TIMEOUT_S, allowed_updates=ALLOWED_UPDATES,
                                                 bootstrap_retries=3, error_callback=_polling_failed)
        log.info("telegram bot @%s running (%s)", self.app.bot.username,
                 "webhook" if self.webhook_url else "long polling")

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        # webhook: from now on updates get 503, and Telegram delivers them again (to another instance, or later)
        if self.app.running:
            await self.app.stop()  # waits for the handlers still running
        await self.app.shutdown()

    def add_routes(self, app: web.Application) -> None:
        """Webhook mode: the route Telegram's updates arrive at, on the project's HTTP server."""
        app.router.add_post(self.webhook_path, self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), self._secret):
            raise web.HTTPForbidden()
        if not self.app.running:
            raise web.HTTPServiceUnavailable()  # Telegram delivers it again later
        try:
            update = Update.de_json(await request.json(), self.app.bot)
        except (ValueError, TypeError, KeyError):
            raise web.HTTPBadRequest() from None
        await self.app.update_queue.put(update)
        return web.Response()


async def start_telegram(conversation: Conversation, settings: TelegramSettings) -> TelegramBot:
    """The entry point `fffusion run` uses: the bot, started; `await bot.stop()` ends it."""
    bot = TelegramBot(conversation, settings)
    await bot.start()
    return bot


def webhook_secret(token: str) -> str:
    """The same secret on every instance of one bot, and unguessable without its token."""
    return hashlib.sha256(b"fffusion telegram webhook\0" + token.encode()).hexdigest()


def _polling_failed(err: TelegramError) -> None:
    # The updater retries with backoff by itself; one line per failure instead of a traceback.
    log.warning("telegram: getUpdates failed: %s", err)
