"""A loopback Discord for tests: gateway websocket, REST API and attachment CDN on 127.0.0.1 (aiohttp).

An unmodified discord.py client talks to it once `discord.http.Route.BASE` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` point here. It keeps the Discord rules a bot can
get wrong, so a test fails where Discord would: an interaction is acknowledged once and within
`ack_window` seconds; followups need an acknowledgement first; the first followup after a defer replaces
the loading message and keeps the defer's flags; content over 2,000 characters and uploads over the
interaction's attachment_size_limit are refused; commands exist only after they were synced.

Test side: `slash()`, `context_menu()` (a message command on a message a person `post()`ed, with attachments or
embeds) and `click()` inject interactions from a `Member` with a locale, `Interaction.answer()` waits (with a
timeout) for what the person finally sees, `fail()` injects Discord errors, and `cdn_hits` lists every download
of a person's attachment.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

API = "/api/v10"
EPHEMERAL = 64
LOADING = 128  # MessageFlags.loading: the "is thinking..." placeholder of a deferred response
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
MAX_CONTENT = 2000
OPTION_TYPES = {"string": 3, "integer": 4, "boolean": 5, "attachment": 11}
_ids = itertools.count(1_300_000_000_000_000_000)


def snowflake() -> int:
    return next(_ids)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body only when Content-Type is exactly application/json (no charset).
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status)


def _content_error(message: dict[str, Any]) -> web.Response | None:
    if len(message.get("content") or "") > MAX_CONTENT:
        return _error(400, 50035, "Invalid Form Body: content: Must be 2000 or fewer in length.")
    return None


def _sniff(data: bytes) -> str:
    for magic, kind in ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG", "image/png"), (b"GIF8", "image/gif")):
        if data.startswith(magic):
            return kind
    return "application/octet-stream"


@dataclass(frozen=True)
class Member:
    id: int
    name: str

    def user(self, bot: bool = False) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.name, "global_name": self.name, "discriminator": "0",
                "avatar": None, "bot": bot, "public_flags": 0}

    def payload(self, permissions: str | None = None) -> dict[str, Any]:
        out = {"user": self.user(), "roles": [], "joined_at": _now(), "deaf": False, "mute": False,
               "flags": 0}
        if permissions is not None:
            out["permissions"] = permissions
        return out


@dataclass
class Upload:
    """A file on the CDN: a person's attachment or one the bot uploaded."""

    id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    size: int  # what Discord reports; a test may make it differ from len(data)
    width: int | None = None
    height: int | None = None

    def payload(self) -> dict[str, Any]:
        out = {"id": str(self.id), "filename": self.filename, "size": self.size, "url": self.url,
               "proxy_url": self.url, "content_type": self.content_type}
        if self.width is not None and self.height is not None:
            out.update(width=self.width, height=self.height)
        return out


@dataclass
class Message:
    id: int
    channel_id: int
    author: Member
    content: str = ""
    flags: int = 0
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Upload] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    interaction: Interaction | None = None
    deleted: bool = False
    edits: int = 0

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for row in self.components for c in row.get("components", []) if c.get("type") == 2]

    def payload(self, app_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id), "channel_id": str(self.channel_id), "type": 20 if self.interaction else 0,
            "content": self.content, "author": self.author.user(bot=self.author.id == app_id), "attachments":
            [a.payload() for a in self.attachments], "embeds": self.embeds, "mentions": [], "mention_roles": [],
            "mention_everyone": False, "pinned": False, "tts": False, "timestamp": _now(),
            "edited_timestamp": _now() if self.edits else None, "flags": self.flags,
            "components": self.components, "application_id": str(app_id), "webhook_id": str(app_id),
        }
        if self.interaction is not None:
            ix = self.interaction
            out["interaction_metadata"] = {"id": str(ix.id), "type": ix.type, "user": ix.member.user(),
                                           "authorizing_integration_owners": {}}
        return out


@dataclass
class Callback:
    type: int
    flags: int
    data: dict[str, Any]


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


class Interaction:
    """One injected interaction and everything the bot did with it."""

    def __init__(self, fake: FakeDiscord, type_: int, member: Member, locale: str, data: dict[str, Any],
                 message: Message | None = None) -> None:
        self.fake = fake
        self.id = snowflake()
        self.token = "ix-" + secrets.token_urlsafe(24)
        self.type = type_
        self.member = member
        self.locale = locale
        self.data = data
        self.message = message  # the message a clicked component sits on
        self.created = time.monotonic()
        self.callback: Callback | None = None
        self.original: Message | None = None  # the response message ("@original")
        self.followups: list[Message] = []
        self.log: list[str] = []  # what the bot did, for failure messages
        self.expired = False
        self.clicked_edits = 0
        self._changed = asyncio.Event()

    def payload(self) -> dict[str, Any]:
        fake = self.fake
        out: dict[str, Any] = {
            "id": str(self.id), "application_id": str(fake.app_id), "type": self.type, "token": self.token,
            "version": 1, "guild_id": str(fake.guild_id), "channel_id": str(fake.channel_id),
            "channel": fake.channel_payload(), "member": self.member.payload(permissions="2248473465835073"),
            "locale": self.locale, "guild_locale": "ko", "app_permissions": "2248473465835073",
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT, "entitlements": [],
            "authorizing_integration_owners": {"0": str(fake.guild_id)}, "context": 0, "data": self.data,
        }
        if self.message is not None:
            out["message"] = self.message.payload(fake.app_id)
        return out

    def changed(self, what: str) -> None:
        self.log.append(what)
        self._changed.set()

    async def wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        try:
            async with asyncio.timeout(timeout):
                while not (found := check()):
                    self._changed.clear()
                    await self._changed.wait()
                return found
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s; the bot did: {self.log}") from None

    async def acked(self, timeout: float = 5.0) -> Callback:
        return await self.wait("interaction callback", lambda: self.callback, timeout)

    def messages(self) -> list[Message]:
        """Messages this interaction produced or edited, oldest first."""
        own = [self.original] if self.original is not None else []
        return own + self.followups

    async def answer(self, timeout: float = 60.0) -> Message:
        """What the person finally sees: the clicked message once updated, else the newest message of this
        interaction that is neither a placeholder nor deleted."""

        def final() -> Message | None:
            cb = self.callback
            if cb is None:
                return None
            if self.type == 3 and self.clicked_edits and cb.type in (6, 7):
                return self.message
            done = [m for m in self.messages() if not m.loading and not m.deleted]
            return done[-1] if done else None

        return await self.wait("answer", final, timeout)


@dataclass
class Shard:
    """One gateway connection of a client, identified as shard `number` of `count`."""

    ws: web.WebSocketResponse
    count: int
    seq: int = 0


class FakeDiscord:
    # shaped like a real bot token (three base64url parts joined by dots): the settings check the shape
    TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GfakeT.fake-bot-token-fake-bot-token-0"

    def __init__(self, token: str = TOKEN, ack_window: float = 3.0) -> None:
        self.token = token
        self.ack_window = ack_window
        self.app_id = snowflake()
        self.bot = Member(self.app_id, "fffusion")
        self.guild_id = snowflake()
        self.channel_id = snowflake()
        self.members: list[Member] = []
        self.port = 0
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None = global) -> synced
        self.sync_requests: list[tuple[int | None, list[dict[str, Any]]]] = []
        self.identifies: list[dict[str, Any]] = []
        self.cdn_hits: list[str] = []
        self.uploads: dict[int, Upload] = {}
        self.messages: dict[int, Message] = {}
        self.interactions: dict[int, Interaction] = {}
        self.ready = asyncio.Event()
        self._faults: list[Fault] = []
        self._expire_after_ack = 0
        #: the shard count /gateway/bot recommends; a client may run any of the shards, each on its own connection
        self.shard_count = 1
        self._shards: dict[int, Shard] = {}  # by shard id, once identified
        self._runner: web.AppRunner | None = None

    # ----------------------------------------------------------------- addresses and lifecycle
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base + API

    @property
    def gateway(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/gateway", self._gateway)
        r.add_get("/cdn/{id}/{filename}", self._cdn)
        r.add_get(API + "/users/@me", self._me)
        r.add_get(API + "/gateway", self._gateway_info)
        r.add_get(API + "/gateway/bot", self._gateway_info)
        r.add_get(API + "/oauth2/applications/@me", self._application)
        r.add_put(API + "/applications/{app}/commands", self._sync)
        r.add_put(API + "/applications/{app}/guilds/{guild}/commands", self._sync)
        r.add_post(API + "/interactions/{id}/{token}/callback", self._callback)
        r.add_post(API + "/webhooks/{app}/{token}", self._followup)
        r.add_patch(API + "/webhooks/{app}/{token}/messages/{mid}", self._edit)
        r.add_delete(API + "/webhooks/{app}/{token}/messages/{mid}", self._delete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for shard in list(self._shards.values()):
            await shard.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ----------------------------------------------------------------- test-side API
    def add_member(self, name: str) -> Member:
        member = Member(snowflake(), name)
        self.members.append(member)
        return member

    def attachment(self, filename: str, data: bytes, content_type: str, *, size: int | None = None,
                   dimensions: bool = True) -> Upload:
        """A person's file on the CDN. Discord reports width/height for images it could read."""
        width = height = None
        if dimensions and content_type.startswith("image/"):
            with contextlib.suppress(Exception), Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        return self._store(filename, data, content_type, size=size, width=width, height=height)

    def fail(self, method: str, path: str, status: int, *, code: int = 0, message: str = "",
             retry_after: float | None = None, times: int = 1) -> None:
        """The next `times` requests matching `method` and the `path` regex (after /api/v10) fail."""
        body: dict[str, Any] = {"code": code, "message": message}
        headers: dict[str, str] = {}
        if retry_after is not None:
            body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
            headers = {"Retry-After": str(retry_after), "Via": "1.1 google", "X-RateLimit-Limit": "5",
                       "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(retry_after),
                       "X-RateLimit-Bucket": "fake-bucket", "X-RateLimit-Scope": "user"}
        self._faults.append(Fault(method.upper(), re.compile(path), status, body, headers, times))

    def pending_faults(self) -> int:
        return sum(f.times for f in self._faults)

    async def slash(self, name: str, options: dict[str, Any] | None = None, *, member: Member,
                    locale: str = "ko") -> Interaction:
        """The person sends `/name`; options are checked against the synced schema."""
        return await self._inject(Interaction(self, 2, member, locale, self._command_data(name, options or {})))

    async def autocomplete(self, name: str, options: dict[str, Any], focused: str, *, member: Member,
                           locale: str = "ko") -> Interaction:
        """The person is typing option `focused` of `/name`; the bot answers with choices (callback 8)."""
        data = self._command_data(name, options, partial=True)
        for option in data["options"]:
            option["focused"] = option["name"] == focused
        return await self._inject(Interaction(self, 4, member, locale, data))

    def post(self, member: Member, content: str = "", attachments: list[Upload] | None = None,
             embeds: list[dict[str, Any]] | None = None) -> Message:
        """A person's message in the channel (the bot sees it only through a context menu on it)."""
        msg = Message(snowflake(), self.channel_id, member, content, attachments=list(attachments or []),
                      embeds=list(embeds or []))
        self.messages[msg.id] = msg
        return msg

    async def context_menu(self, name: str, message: Message, *, member: Member, locale: str = "ko"
                           ) -> Interaction:
        """The person right-clicks `message` and picks the app's message command `name` (its base name)."""
        guild_id, command = self._synced(name)
        if command.get("type") != 3:
            raise AssertionError(f"{name!r} is not a message command: {command}")
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 3, "target_id": str(message.id),
                                "resolved": {"messages": {str(message.id): message.payload(self.app_id)}}}
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return await self._inject(Interaction(self, 2, member, locale, data))

    @staticmethod
    def embed_image(url: str, proxy_url: str | None = None, width: int = 640, height: int = 480) -> dict[str, Any]:
        """An embed showing an image, as Discord builds for a link: its source `url`, and `proxy_url` on
        Discord's media proxy (what a client loads)."""
        image = {"url": url, "proxy_url": proxy_url or url, "width": width, "height": height}
        return {"type": "rich", "image": image}

    def _command_data(self, name: str, given: dict[str, Any], partial: bool = False) -> dict[str, Any]:
        guild_id, command = self._synced(name)
        schema = {o["name"]: o for o in command.get("options", [])}
        unknown = set(given) - set(schema)
        missing = set() if partial else {n for n, o in schema.items() if o.get("required") and n not in given}
        if unknown or missing:
            raise AssertionError(f"/{name}: unknown options {unknown}, missing required {missing}")
        opts: list[dict[str, Any]] = []
        resolved: dict[str, Any] = {}
        for key, value in given.items():
            kind = schema[key]["type"]
            if kind == OPTION_TYPES["attachment"]:
                resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
                value = str(value.id)
            opts.append({"name": key, "type": kind, "value": value})
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    async def click(self, message: Message, custom_id: str, *, member: Member,
                    locale: str = "ko") -> Interaction:
        if not any(b.get("custom_id") == custom_id and not b.get("disabled") for b in message.buttons):
            raise AssertionError(f"no enabled button {custom_id!r} on the message: {message.buttons}")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._inject(Interaction(self, 3, member, locale, data, message=message))

    def expire_after_ack(self) -> None:
        """The next interaction's token dies right after its acknowledgement (as after 15 minutes):
        every followup, edit and delete gets 404."""
        self._expire_after_ack += 1

    async def wait_ready(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self.ready.wait()

    # ----------------------------------------------------------------- internals: state
    def channel_payload(self) -> dict[str, Any]:
        return {"id": str(self.channel_id), "type": 0, "guild_id": str(self.guild_id), "name": "general",
                "position": 0, "permission_overwrites": [], "nsfw": False}

    def _guild_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id), "name": "FFfusion test", "unavailable": False,
            "owner_id": str(self.bot.id), "member_count": len(self.members) + 1, "large": False,
            "preferred_locale": "ko", "features": [], "joined_at": _now(),
            "roles": [{"id": str(self.guild_id), "name": "@everyone", "permissions": "2248473465835073",
                       "position": 0}],
            "channels": [self.channel_payload()],
            "members": [self.bot.payload()] + [m.payload() for m in self.members],
            "emojis": [], "stickers": [], "threads": [], "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        }

    def _store(self, filename: str, data: bytes, content_type: str, *, size: int | None = None,
               width: int | None = None, height: int | None = None) -> Upload:
        upload_id = snowflake()
        upload = Upload(upload_id, filename, data, content_type, f"{self.base}/cdn/{upload_id}/{filename}",
                        len(data) if size is None else size, width, height)
        self.uploads[upload_id] = upload
        return upload

    def _synced(self, name: str) -> tuple[int | None, dict[str, Any]]:
        for guild_id in (self.guild_id, None):
            for command in self.commands.get(guild_id, []):
                if command["name"] == name:
                    return guild_id, command
        raise AssertionError(f"/{name} was never synced; synced: {self.commands}")

    async def _inject(self, interaction: Interaction) -> Interaction:
        self.interactions[interaction.id] = interaction
        await self._dispatch("INTERACTION_CREATE", interaction.payload())
        return interaction

    @property
    def guild_shard(self) -> int | None:
        """The shard the guild's events go to (Discord's rule: (guild id >> 22) % shard count), once a client
        identified with a shard count."""
        counts = {shard.count for shard in self._shards.values()}
        return (self.guild_id >> 22) % counts.pop() if len(counts) == 1 else None

    def _guild_connection(self) -> Shard | None:
        home = self.guild_shard
        return self._shards.get(home) if home is not None else None

    async def _dispatch(self, event: str, data: dict[str, Any], shard: Shard | None = None) -> None:
        """An event to the given connection, or, for the guild's events, to the shard that has the guild."""
        shard = shard or self._guild_connection()
        if shard is None or shard.ws.closed:
            raise AssertionError("no bot is connected to the gateway on the guild's shard")
        shard.seq += 1
        await shard.ws.send_str(json.dumps({"op": 0, "t": event, "s": shard.seq, "d": data}))

    def _interaction(self, request: web.Request) -> Interaction | None:
        token = request.match_info["token"]
        found = next((ix for ix in self.interactions.values() if ix.token == token), None)
        return None if found is None or found.expired else found

    def _new_message(self, interaction: Interaction, body: dict[str, Any], files: dict[int, Upload],
                     flags: int) -> Message:
        msg = Message(snowflake(), self.channel_id, self.bot, flags=flags, interaction=interaction)
        self._apply(msg, body, files)
        self.messages[msg.id] = msg
        return msg

    @staticmethod
    def _apply(msg: Message, body: dict[str, Any], files: dict[int, Upload]) -> None:
        if "content" in body:
            msg.content = body["content"] or ""
        if "components" in body:
            msg.components = body["components"] or []
        if "attachments" in body:
            # listed ids are kept (existing attachment ids) or uploaded now (files[n] indexes); the rest go
            kept = {str(a.id): a for a in msg.attachments}
            listed = [str(entry["id"]) for entry in body["attachments"] or []]
            msg.attachments = [kept[k] if k in kept else files[int(k)] for k in listed
                               if k in kept or (k.isdigit() and int(k) in files)]
        elif files:
            msg.attachments = msg.attachments + list(files.values())

    def _edited(self, interaction: Interaction, msg: Message, body: dict[str, Any], files: dict[int, Upload],
                how: str) -> None:
        self._apply(msg, body, files)
        msg.flags &= ~LOADING
        msg.edits += 1
        if msg is interaction.message:
            interaction.clicked_edits += 1
        interaction.changed(f"{how} message {msg.id} files={len(files)}")

    async def _read_body(self, request: web.Request
                         ) -> tuple[dict[str, Any], dict[int, Upload]] | web.Response:
        """JSON or multipart (payload_json + files[n]); refuses uploads Discord refuses."""
        files: dict[int, Upload] = {}
        body: dict[str, Any] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                elif part.name and (m := re.fullmatch(r"files\[(\d+)\]", part.name)):
                    data = bytes(await part.read())
                    if len(data) > ATTACHMENT_SIZE_LIMIT:
                        return _error(413, 40005, "Request entity too large")
                    files[int(m.group(1))] = self._store(part.filename or "file", data, _sniff(data))
        elif request.can_read_body:
            body = await request.json()
        return body, files

    # ----------------------------------------------------------------- internals: HTTP
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        path = request.path
        if path.startswith(API):
            rest = path[len(API):]
            for fault in self._faults:
                if fault.times > 0 and fault.method == request.method and fault.path.search(rest):
                    fault.times -= 1
                    self._faults = [f for f in self._faults if f.times > 0]
                    return _json(fault.body, fault.status, fault.headers)
            # interaction endpoints authenticate with the token in the URL, everything else with the bot token
            if not rest.startswith(("/interactions/", "/webhooks/")) and (
                request.headers.get("Authorization") != f"Bot {self.token}"
            ):
                return _error(401, 0, "401: Unauthorized")
        return await handler(request)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.cdn_hits.append(request.path)
        upload = self.uploads.get(int(request.match_info["id"]))
        if upload is None:
            return web.Response(status=404)
        return web.Response(body=upload.data, headers={"Content-Type": upload.content_type})

    async def _me(self, request: web.Request) -> web.Response:
        return _json({**self.bot.user(bot=True), "verified": True, "mfa_enabled": False, "flags": 0})

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway, "shards": self.shard_count, "session_start_limit":
                      {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})

    async def _application(self, request: web.Request) -> web.Response:
        return _json({"id": str(self.app_id), "name": "FFfusion", "description": "", "icon": None,
                      "bot_public": True, "bot_require_code_grant": False, "owner": self.bot.user(),
                      "verify_key": "00" * 32, "flags": 0, "team": None, "bot": self.bot.user(bot=True)})

    async def _sync(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        guild_id = int(guild) if guild else None
        sent = await request.json()
        self.sync_requests.append((guild_id, sent))
        previous = {c["name"]: c for c in self.commands.get(guild_id, [])}
        synced = []
        for cmd in sent:
            # slash command names: lower case, no spaces; user and message commands: any case, spaces allowed
            slash = cmd.get("type", 1) == 1
            for each in (cmd["name"], *(cmd.get("name_localizations") or {}).values()):
                if not (re.fullmatch(r"[-_\w]{1,32}", each) and each == each.lower() if slash
                        else re.fullmatch(r"[-_ \w]{1,32}", each)):
                    return _error(400, 50035, f"Invalid Form Body: name {each!r}")
            if not slash and cmd.get("description"):
                return _error(400, 50035, "Invalid Form Body: description: context menu commands have none")
            old = previous.get(cmd["name"])
            synced.append({"description": "", **cmd, "id": old["id"] if old else str(snowflake()),
                           "application_id": str(self.app_id), "version": str(snowflake()),
                           **({"guild_id": guild} if guild else {})})
        self.commands[guild_id] = synced
        return _json(synced)

    async def _callback(self, request: web.Request) -> web.Response:
        ix = self._interaction(request)
        if ix is None or str(ix.id) != request.match_info["id"]:
            return _error(404, 10062, "Unknown interaction")
        if ix.callback is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - ix.created > self.ack_window:
            ix.changed("late callback")
            return _error(404, 10062, "Unknown interaction")
        read = await self._read_body(request)
        if isinstance(read, web.Response):
            return read
        body, files = read
        kind, data = body["type"], body.get("data") or {}
        if kind not in {2: {4, 5}, 3: {4, 5, 6, 7}, 4: {8}}[ix.type]:
            return _error(400, 50035, f"Invalid interaction response type {kind}")
        if too_long := _content_error(data):
            return too_long
        flags = int(data.get("flags") or 0) & EPHEMERAL
        ix.callback = Callback(kind, flags, data)
        message: Message | None = None
        if kind == 4:
            message = ix.original = self._new_message(ix, data, files, flags)
        elif kind == 5:
            message = ix.original = self._new_message(ix, {}, {}, flags | LOADING)
        ix.changed(f"callback {kind} flags={flags}")
        if self._expire_after_ack:
            self._expire_after_ack -= 1
            ix.expired = True
        if kind == 7 and ix.message is not None:
            message = ix.message
            self._edited(ix, message, data, files, "update clicked")
        out: dict[str, Any] = {"interaction": {
            "id": str(ix.id), "type": ix.type, "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(flags & EPHEMERAL),
            **({"response_message_id": str(message.id)} if message else {})}}
        if message is not None:
            out["resource"] = {"type": kind, "message": message.payload(self.app_id)}
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        return _json(out)

    async def _followup(self, request: web.Request) -> web.Response:
        ix = self._interaction(request)
        if ix is None or ix.callback is None:
            return _error(404, 10015, "Unknown Webhook")
        read = await self._read_body(request)
        if isinstance(read, web.Response):
            return read
        body, files = read
        if too_long := _content_error(body):
            return too_long
        original = ix.original
        if original is not None and original.loading and not original.deleted:
            # The first followup after a defer replaces the placeholder and keeps the defer's flags.
            self._edited(ix, original, body, files, "followup replaced placeholder")
            return _json(original.payload(self.app_id))
        msg = self._new_message(ix, body, files, int(body.get("flags") or 0) & EPHEMERAL)
        ix.followups.append(msg)
        ix.changed(f"followup {msg.id} flags={msg.flags} files={len(files)}")
        return _json(msg.payload(self.app_id))

    def _target(self, request: web.Request, ix: Interaction) -> Message | None:
        mid = request.match_info["mid"]
        if mid == "@original":
            if ix.type == 3 and ix.callback is not None and ix.callback.type in (6, 7):
                return ix.message
            return ix.original
        return next((m for m in ix.messages() if str(m.id) == mid), None)

    async def _edit(self, request: web.Request) -> web.Response:
        ix = self._interaction(request)
        msg = self._target(request, ix) if ix is not None and ix.callback is not None else None
        if ix is None or msg is None or msg.deleted:
            return _error(404, 10008, "Unknown Message")
        read = await self._read_body(request)
        if isinstance(read, web.Response):
            return read
        body, files = read
        if too_long := _content_error(body):
            return too_long
        self._edited(ix, msg, body, files, "edit")
        return _json(msg.payload(self.app_id))

    async def _delete(self, request: web.Request) -> web.Response:
        ix = self._interaction(request)
        msg = self._target(request, ix) if ix is not None and ix.callback is not None else None
        if msg is None or msg.deleted:
            return _error(404, 10008, "Unknown Message")
        msg.deleted = True
        ix.changed("delete")
        return web.Response(status=204)

    # ----------------------------------------------------------------- internals: gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:  # heartbeat
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:  # identify
                await self._identify(ws, frame["d"])
            elif op == 6:  # resume: not kept; the client identifies again
                await ws.send_str(json.dumps({"op": 9, "d": False}))
        owner = self._guild_connection()
        if owner is not None and owner.ws is ws:  # the guild's connection ended
            self.ready.clear()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies.append(data)
        number, count = data.get("shard") or (0, 1)
        old = self._shards.get(number)
        if old is not None and not old.ws.closed:
            await old.ws.close()  # the shard reconnected, or another client took it over
        shard = self._shards[number] = Shard(ws, count)
        has_guild = self.guild_shard == number
        await self._dispatch("READY", {
            "v": 10, "user": {**self.bot.user(bot=True), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}] if has_guild else [],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway, "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [], "relationships": [], "presences": [], "shard": [number, count],
        }, shard)
        if not has_guild:
            return
        await self._dispatch("GUILD_CREATE", self._guild_payload())
        self.ready.set()
