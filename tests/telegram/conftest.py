"""The unmodified bot (adapters/telegram) against the Bot API server in botapi_server.py, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.telegram import TelegramBot
from bot.config import Settings
from core.service.chat import Conversation
from core.service.service import MemeService
from tests.telegram.botapi_server import BotApiServer


@pytest.fixture
async def botapi() -> AsyncIterator[BotApiServer]:
    async with BotApiServer() as server:
        yield server


@pytest.fixture
def tg_settings(botapi: BotApiServer) -> Settings:
    cache = botapi.channel("fffusion inline cache")
    return Settings().replace(telegram_token=botapi.token,
        telegram_base_url=botapi.base_url,
        telegram_base_file_url=botapi.base_file_url,
        telegram_cache_chat=str(cache["id"]),
    )


@pytest.fixture
async def telegram_bot(service: MemeService, tg_settings: Settings) -> AsyncIterator[TelegramBot]:
    bot = TelegramBot(Conversation(service), tg_settings.telegram)
    await bot.start()
    yield bot
    await bot.stop()
