"""The unmodified discord.py client (adapters/discord) against the loopback Discord in fake_discord.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.discord.bot import DiscordBot
from core.service.chat import Conversation
from core.service.service import MemeService
from tests.discord.fake_discord import FakeDiscord, Member

StartBot = Callable[..., Awaitable[DiscordBot]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def start_bot(fake: FakeDiscord, service: MemeService) -> AsyncIterator[StartBot]:
    """Starts the bot against `fake` (more than once for a restart); every bot started is stopped."""
    bots: list[DiscordBot] = []

    async def start(guild_id: int | None = None, shards: tuple[list[int], int] | None = None) -> DiscordBot:
        bot = DiscordBot(
            Conversation(service),
            token=fake.token,
            api_base=fake.api_base,
            gateway=fake.gateway,
            guild_id=guild_id,
            shards=shards,
            guild_ready_timeout=0.2,
            ready_timeout=10,
            image_hosts=(f"127.0.0.1:{fake.port}",),  # the loopback CDN stands in for cdn.discordapp.com
        )
        await bot.start()
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.stop()


@pytest.fixture
async def bot(start_bot: StartBot) -> DiscordBot:
    return await start_bot()


@pytest.fixture
def alice(fake: FakeDiscord) -> Member:
    return fake.add_member("alice")


@pytest.fixture
def bob(fake: FakeDiscord) -> Member:
    return fake.add_member("bob")
