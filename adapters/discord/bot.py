"""The Discord bot as an object another program starts and stops inside its own asyncio loop.

    bot = DiscordBot(conversation, token=...)
    await bot.start()   # log in, sync the commands, connect the gateway in a task, wait until ready
    ...
    await bot.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import aiohttp
import discord
import yarl

from adapters.discord.commands import ActionButton, Handlers, Texts, build_tree, log_discord_failure
from core.errors import ConfigError, ServiceError
from core.messages import localized
from core.service.chat import Conversation

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"
# The bot never joins a voice channel: discord.py's warnings that voice libraries are missing mean nothing here
discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False


class DiscordSettings(Protocol):
    """The settings this adapter reads (bot.config.Settings.discord, from FFFUSION_DISCORD_*)."""

    @property
    def token(self) -> str: ...
    @property
    def api_base(self) -> str: ...
    @property
    def gateway(self) -> str: ...
    @property
    def guild_id(self) -> int | None: ...
    @property
    def shards(self) -> str: ...
    @property
    def image_hosts(self) -> tuple[str, ...]: ...


def parse_shards(text: str) -> tuple[list[int], int] | None:
    """`FFFUSION_DISCORD_SHARDS`: "0-3/8" = this instance runs shards 0 to 3 of 8 ("5/8": shard 5 alone); "" = None:
    every shard, as many as Discord recommends (AutoSharded)."""
    if not text.strip():
        return None
    first, _, count = text.replace(" ", "").partition("/")
    low, _, high = first.partition("-")
    try:
        ids = list(range(int(low), int(high or low) + 1))
        total = int(count)
    except ValueError:
        ids, total = [], 0
    if not ids or ids[0] < 0 or ids[-1] >= total:
        raise ConfigError("config.bad_value", name="FFFUSION_DISCORD_SHARDS", value=text,
                          expected=localized("config.expect.shards"))
    return ids, total


class FffusionClient(discord.AutoShardedClient):
    """Sharded: one instance runs the shards it is given, or every shard Discord recommends. Interactions carry
    everything a command needs, so shards on different instances need nothing from each other."""

    def __init__(
        self, conversation: Conversation, guild_id: int | None, guild_ready_timeout: float,
        shards: tuple[list[int], int] | None = None, image_hosts: tuple[str, ...] = (),
    ) -> None:
        ids, count = shards or (None, None)
        # Slash commands and buttons arrive whatever the intents; guilds alone keeps the cache small.
        super().__init__(
            shard_ids=ids,
            shard_count=count,
            intents=discord.Intents(guilds=True),
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=60.0,  # a longer wait raises (and is logged) instead of stalling a handler
            # answers name friends as <@id> (shown as their names); naming them must not ping them
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.guild_id = guild_id
        self.handlers = Handlers(conversation, image_hosts)
        self.tree = build_tree(self, self.handlers)

    async def close(self) -> None:
        await self.handlers.close()
        await super().close()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton)
        await self.tree.set_translator(Texts())
        guild = discord.Object(self.guild_id) if self.guild_id else None
        if guild is not None:  # development: instant updates in one server instead of a global roll-out
            self.tree.copy_global_to(guild=guild)
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.DiscordException as err:
            # The commands from the previous sync keep working; the bot still serves them.
            log_discord_failure(err, "syncing the slash commands")
        else:
            log.info("synced %d slash commands %s", len(synced), f"to guild {self.guild_id}" if guild else "globally")


class DiscordBot:
    def __init__(
        self,
        conversation: Conversation,
        *,
        token: str,
        api_base: str = "",
        gateway: str = "",
        guild_id: int | None = None,
        shards: tuple[list[int], int] | None = None,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = 60.0,
        image_hosts: tuple[str, ...] = (),  # posted pictures come from these hosts only; none = no swaps
    ) -> None:
        self.conversation = conversation
        self.token = token
        self.api_base = (api_base or DISCORD_API).rstrip("/")
        self.gateway = gateway or DISCORD_GATEWAY
        self.guild_id = guild_id
        self.shards = shards
        self.guild_ready_timeout = guild_ready_timeout
        self.ready_timeout = ready_timeout
        self.image_hosts = image_hosts
        self.client: FffusionClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # discord.py reads both addresses from class attributes; one Discord client per process.
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway)
        client = self.client = FffusionClient(self.conversation, self.guild_id, self.guild_ready_timeout, self.shards,
                                              self.image_hosts)
        try:
            await client.login(self.token)
        except discord.LoginFailure:
            await client.close()
            raise ConfigError("discord.bad_token") from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as err:
            await client.close()
            raise ServiceError("discord.unreachable", reason=str(err) or type(err).__name__) from None
        self._task = asyncio.create_task(self._run(client), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            reason = "gateway closed" if self._task in done else f"not ready after {self.ready_timeout:.0f} s"
            await self.stop()
            raise ServiceError("discord.unreachable", reason=reason)
        log.info("Discord: connected as %s, shards %s of %s", client.user, client.shard_ids or "all",
                 client.shard_count)

    async def _run(self, client: FffusionClient) -> None:
        # discord.py reconnects by itself; what escapes is fatal for this connection (bad token, intents).
        try:
            await client.connect(reconnect=True)
        except Exception:
            log.exception("Discord gateway connection ended")

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.client = self._task = None


async def start_discord(conversation: Conversation, settings: DiscordSettings) -> DiscordBot:
    """`fffusion run`: the Discord bot from the FFFUSION_DISCORD_* settings, started and ready."""
    bot = DiscordBot(
        conversation,
        token=settings.token,
        api_base=settings.api_base,
        gateway=settings.gateway,
        guild_id=settings.guild_id,
        shards=parse_shards(settings.shards),
        image_hosts=settings.image_hosts,
    )
    await bot.start()
    return bot
