"""A small Telegram Bot API server on aiohttp, for running the unmodified bot against it on 127.0.0.1.

It answers the methods FFfusion uses with Telegram-shaped JSON (dates in seconds, per-chat message ids, file ids
with file_unique_id, photo size arrays, the `{"ok": false, "error_code", "description", "parameters"}` error
shape), long-polls getUpdates, delivers to a webhook when one is set, and serves files at the file base URL.

The test side injects what people do (`send_text`, `send_photo`, `press`, `inline_query`, ...) and awaits what the
bot did (`expect`), each with a timeout so a test never hangs; `fail` makes the next calls of a method fail the way
Telegram does (429 with retry_after, 400 chat not found, a dropped connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

JSON = dict[str, Any]

# Telegram re-encodes photos to JPEG with this longest side, and keeps smaller copies next to it.
PHOTO_MAX_SIDE = 1280
PHOTO_THUMB_SIDES = (90, 320, 800)
# Values that stay strings even when they look like JSON (a text "123" is not the number 123).
STRING_FIELDS = frozenset(
    {"text", "caption", "photo", "document", "file_id", "callback_query_id", "inline_query_id", "url",
     "secret_token", "action", "parse_mode", "next_offset", "inline_message_id", "query", "description"}
)
FILE_ID_PREFIX = {"photo": "AgACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI", "sticker": "CAACAgIAAxkBAAI",
                  "voice": "AwACAgIAAxkBAAI"}
MEDIA_DIRS = {"photo": ("photos", "jpg"), "document": ("documents", "bin"), "sticker": ("stickers", "webp"),
              "voice": ("voice", "oga")}
UPDATE_TYPES_BY_DEFAULT = frozenset({"message", "edited_message", "callback_query", "inline_query",
                                     "chosen_inline_result", "channel_post", "edited_channel_post",
                                     "my_chat_member", "chat_join_request"})


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str


@dataclass
class Call:
    """One Bot API request the bot made, with what the server answered."""

    seq: int
    method: str
    params: JSON
    files: dict[str, bytes]
    ok: bool = True
    result: Any = None
    error: str | None = None
    at: float = field(default_factory=time.monotonic)
    photo: bytes | None = None  # the image this call put into a chat (uploaded now or referenced by file_id)
    uploaded: bool = False  # True when the image bytes travelled with this request
    photos: list[bytes | None] = field(default_factory=list)  # an album's images (sendMediaGroup)
    consumed: bool = False

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    def button_data(self) -> list[str]:
        markup = self.params.get("reply_markup") or {}
        return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row if "callback_data" in b]


@dataclass
class Fault:
    method: str
    code: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None
    drop: bool


def _now() -> int:
    return int(time.time())


def _image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def _resized_jpeg(data: bytes, side: int) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (side, side))  # JPEG decodes at a reduced scale: thumbnails stay cheap
        img = img.convert("RGB")
        img.thumbnail((side, side))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=87)
        return out.getvalue()


class BotApiServer:
    # shaped like a real token (the bot's id, a colon, 35 characters): the settings check the shape
    TOKEN = "123456:TEST-fffusion-AAAAAAAAAAAAAAAAAAAAAA"

    def __init__(self, token: str = TOKEN, bot_username: str = "fffusion_test_bot") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSON = {"id": self.bot_id, "is_bot": True, "first_name": "무한짤봇", "username": bot_username,
                               "can_join_groups": True, "can_read_all_group_messages": False,
                               "supports_inline_queries": True, "can_connect_to_business": False,
                               "has_main_web_app": False}
        self.calls: list[Call] = []
        self.commands: list[JSON] = []
        self.downloads: list[str] = []  # file paths the bot fetched from the file URL
        self._chats: dict[int, JSON] = {}
        self._deleted_chats: set[int] = set()
        self._messages: dict[tuple[int, int], JSON] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._update_ids = itertools.count(700_000_001)
        self._pending: list[JSON] = []
        self._allowed: frozenset[str] = UPDATE_TYPES_BY_DEFAULT
        self._faults: list[Fault] = []
        self._wake_poll = asyncio.Event()
        self._wake_calls = asyncio.Event()
        self._webhook: JSON = {}
        self._webhook_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> BotApiServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> BotApiServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------------------------------- the world
    def user(self, user_id: int, first_name: str, language_code: str | None = "ko", username: str | None = None
             ) -> JSON:
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def private_chat(self, user: JSON) -> JSON:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        self._chats[chat["id"]] = chat
        return chat

    def group(self, title: str, chat_id: int | None = None, supergroup: bool = True) -> JSON:
        chat_id = chat_id or -(1_000_000_000_000 + len(self._chats) + 1)
        chat = {"id": chat_id, "type": "supergroup" if supergroup else "group", "title": title}
        self._chats[chat_id] = chat
        return chat

    def channel(self, title: str) -> JSON:
        chat = self.group(title)
        chat["type"] = "channel"
        return chat

    def delete_chat(self, chat: JSON) -> None:
        """The chat is gone (group deleted, bot removed): every method on it answers 400 chat not found."""
        self._deleted_chats.add(chat["id"])

    def message(self, chat: JSON, message_id: int) -> JSON:
        return self._messages[(chat["id"], message_id)]

    # ------------------------------------------------------------------------------- what people do
    def send_text(self, user: JSON, chat: JSON, text: str, reply_to: JSON | None = None) -> JSON:
        msg = self._user_message(user, chat, reply_to, text=text)
        entities = _entities(text)
        if entities:
            msg["entities"] = entities
        return self._push("message", msg)

    def send_photo(self, user: JSON, chat: JSON, image: bytes, caption: str | None = None,
                   reply_to: JSON | None = None) -> JSON:
        """A photo as Telegram clients send it: re-encoded to JPEG, longest side <= 1280, with smaller copies."""
        msg = self._user_message(user, chat, reply_to, photo=self._photo_sizes(image, reencode=True))
        self._add_caption(msg, caption)
        return self._push("message", msg)

    def send_document(self, user: JSON, chat: JSON, data: bytes, file_name: str, mime_type: str,
                      caption: str | None = None, reply_to: JSON | None = None) -> JSON:
        stored = self._store("document", data, file_name.rsplit(".", 1)[-1] if "." in file_name else "bin")
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_name": file_name,
                    "mime_type": mime_type, "file_size": len(data)}
        msg = self._user_message(user, chat, reply_to, document=document)
        self._add_caption(msg, caption)
        return self._push("message", msg)

    def send_sticker(self, user: JSON, chat: JSON) -> JSON:
        img = io.BytesIO()
        Image.new("RGBA", (512, 512), (255, 200, 0, 255)).save(img, "WEBP")
        stored = self._store("sticker", img.getvalue())
        sticker = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "type": "regular",
                   "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": "😂",
                   "set_name": "fffusion_test", "file_size": len(stored.data)}
        return self._push("message", self._user_message(user, chat, None, sticker=sticker))

    def send_voice(self, user: JSON, chat: JSON, seconds: int = 2) -> JSON:
        stored = self._store("voice", b"OggS" + secrets.token_bytes(2000))
        voice = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "duration": seconds,
                 "mime_type": "audio/ogg", "file_size": len(stored.data)}
        return self._push("message", self._user_message(user, chat, None, voice=voice))

    def edit_text(self, message: JSON, text: str) -> JSON:
        edited = {**self._messages[(message["chat"]["id"], message["message_id"])], "text": text,
                  "edit_date": _now()}
        entities = _entities(text)
        edited.pop("entities", None)
        if entities:
            edited["entities"] = entities
        self._messages[(message["chat"]["id"], message["message_id"])] = edited
        return self._push("edited_message", edited)

    def press(self, user: JSON, message: JSON, data: str) -> str:
        """Presses an inline button of a message the bot sent (as it looks now, after edits)."""
        current = self._messages[(message["chat"]["id"], message["message_id"])]
        query_id = str(secrets.randbits(60))
        self._push("callback_query", {"id": query_id, "from": user, "message": current, "data": data,
                                      "chat_instance": str(-abs(hash(current["chat"]["id"])))})
        return query_id

    def inline_query(self, user: JSON, query: str, chat_type: str = "sender") -> str:
        query_id = str(secrets.randbits(60))
        self._push("inline_query", {"id": query_id, "from": user, "query": query, "offset": "",
                                    "chat_type": chat_type})
        return query_id

    def choose_inline_result(self, user: JSON, query: str, result_id: str) -> None:
        self._push("chosen_inline_result", {"result_id": result_id, "from": user, "query": query})

    # ---------------------------------------------------------------------------- what the bot did
    async def expect(self, method: str | tuple[str, ...], chat: JSON | None = None, timeout: float = 30.0,
                     where: Callable[[Call], bool] | None = None, failed: bool = False) -> Call:
        """The first call not returned before that matches and succeeded (or `failed`); waits for it up to
        `timeout` seconds."""
        methods = (method,) if isinstance(method, str) else method
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls:
                if (not call.consumed and call.ok != failed and call.method in methods
                        and (chat is None or call.chat_id == chat["id"]) and (where is None or where(call))):
                    call.consumed = True
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(c.method, c.chat_id, c.ok) for c in self.calls[-15:]]
                raise AssertionError(f"no {methods} to {chat and chat['id']} within {timeout}s; last calls: {seen}")
            wake = self._wake_calls
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), remaining)

    async def expect_nothing(self, method: str | tuple[str, ...], chat: JSON | None = None,
                             within: float = 1.0) -> None:
        with contextlib.suppress(AssertionError):
            call = await self.expect(method, chat, timeout=within)
            raise AssertionError(f"unexpected {call.method}: {call.params}")

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def fail(self, method: str, code: int = 400, description: str = "Bad Request: chat not found",
             retry_after: int | None = None, times: int = 1, chat: JSON | None = None, drop: bool = False) -> None:
        """The next `times` calls of `method` (to `chat`, if given) fail like Telegram's do; `drop` closes the
        connection without an answer instead (a network error on the bot's side)."""
        self._faults.append(Fault(method, code, description, retry_after, times, chat and chat["id"], drop))

    def flood(self, method: str, retry_after: int = 1, times: int = 1, chat: JSON | None = None) -> None:
        self.fail(method, 429, f"Too Many Requests: retry after {retry_after}", retry_after, times, chat)

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    # --------------------------------------------------------------------------------------- internals
    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _user_message(self, user: JSON, chat: JSON, reply_to: JSON | None, **content: Any) -> JSON:
        msg: JSON = {"message_id": self._new_message_id(chat["id"]), "from": user, "chat": chat, "date": _now()}
        if reply_to is not None:
            msg["reply_to_message"] = self._messages[(chat["id"], reply_to["message_id"])]
        msg.update(content)
        self._messages[(chat["id"], msg["message_id"])] = msg
        return msg

    @staticmethod
    def _add_caption(msg: JSON, caption: str | None) -> None:
        if caption:
            msg["caption"] = caption
            entities = _entities(caption)
            if entities:
                msg["caption_entities"] = entities

    def _push(self, kind: str, obj: JSON) -> JSON:
        self._pending.append({"update_id": next(self._update_ids), kind: obj})
        self._wake_poll.set()
        self._wake_poll = asyncio.Event()
        return obj

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._wake_calls.set()
        self._wake_calls = asyncio.Event()

    def _store(self, kind: str, data: bytes, ext: str | None = None) -> StoredFile:
        number = next(self._file_counter)
        folder, default_ext = MEDIA_DIRS[kind]
        stored = StoredFile(FILE_ID_PREFIX[kind] + secrets.token_urlsafe(36), "AQAD" + secrets.token_urlsafe(9),
                            data, f"{folder}/file_{number}.{ext or default_ext}")
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _photo_sizes(self, image: bytes, reencode: bool) -> list[JSON]:
        try:
            width, height = _image_size(image)
            if reencode and (max(width, height) > PHOTO_MAX_SIDE or image[:3] != b"\xff\xd8\xff"):
                image = _resized_jpeg(image, PHOTO_MAX_SIDE)
                width, height = _image_size(image)
        except (OSError, ValueError, Image.DecompressionBombError):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
        sizes: list[JSON] = []
        for side in PHOTO_THUMB_SIDES:
            if side < max(width, height):
                data = _resized_jpeg(image, side)
                sizes.append(self._size_entry(self._store("photo", data), data))
        sizes.append(self._size_entry(self._store("photo", image), image))
        return sizes

    @staticmethod
    def _size_entry(stored: StoredFile, data: bytes) -> JSON:
        width, height = _image_size(data)
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(data),
                "width": width, "height": height}

    # ------------------------------------------------------------------------------------------- HTTP side
    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        self.downloads.append(stored.file_path)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(len(self.calls), method, params, files)
        fault = self._take_fault(method, params.get("chat_id"))
        try:
            if fault is not None:
                if fault.drop:
                    call.ok, call.error = False, "connection dropped"
                    self._record(call)
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response()
                raise ApiError(fault.code, fault.description, fault.retry_after)
            handler = getattr(self, "_m_" + method, None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            call.result = await handler(params, files, call)
        except ApiError as err:
            call.ok, call.error = False, err.description
            if method != "getUpdates":
                self._record(call)
            return _error_response(err)
        if method != "getUpdates":  # long polls would drown what tests look for
            self._record(call)
        return web.json_response({"ok": True, "result": call.result})

    def _take_fault(self, method: str, chat_id: Any) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and (fault.chat_id is None or fault.chat_id == chat_id):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _chat(self, chat_id: Any) -> JSON:
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None or chat_id in self._deleted_chats:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _bot_message(self, params: JSON, **content: Any) -> JSON:
        chat = self._chat(params.get("chat_id"))
        msg: JSON = {"message_id": self._new_message_id(chat["id"]), "from": self.bot_user, "chat": chat,
                     "date": _now(), **content}
        reply = params.get("reply_parameters") or (
            {"message_id": params["reply_to_message_id"]} if "reply_to_message_id" in params else None)
        if reply:
            original = self._messages.get((chat["id"], int(reply["message_id"])))
            if original is None and not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            if original is not None:
                msg["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
        if params.get("reply_markup", {}).get("inline_keyboard"):
            msg["reply_markup"] = params["reply_markup"]
        self._messages[(chat["id"], msg["message_id"])] = msg
        return msg

    def _input_photo(self, value: Any, files: dict[str, bytes], call: Call) -> list[JSON]:
        """A photo parameter: an uploaded part, attach://name, or a file_id sent before."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = files.get(value.removeprefix("attach://"))
            if value is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if isinstance(value, bytes):
            call.photo, call.uploaded = value, True
            return self._photo_sizes(value, reencode=True)
        stored = self._files.get(str(value))
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not stored.file_id.startswith(FILE_ID_PREFIX["photo"]):
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        call.photo = stored.data
        sizes = next((m["photo"] for m in self._messages.values() if m.get("photo")
                      and m["photo"][-1]["file_id"] == stored.file_id), None)
        return sizes or [self._size_entry(stored, stored.data)]

    def _editable(self, params: JSON) -> JSON:
        chat = self._chat(params.get("chat_id"))
        msg = self._messages.get((chat["id"], int(params.get("message_id", 0))))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg["from"]["id"] != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return msg

    def _save_edit(self, msg: JSON, params: JSON, **changes: Any) -> JSON:
        markup = params.get("reply_markup") or {}
        changes["reply_markup"] = markup if markup.get("inline_keyboard") else None
        if all(msg.get(k) == v for k, v in changes.items()):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        edited = {k: v for k, v in {**msg, **changes, "edit_date": _now()}.items() if v is not None}
        self._messages[(msg["chat"]["id"], msg["message_id"])] = edited
        return edited

    # ----------------------------------------------------------------------------------------- methods
    async def _m_getMe(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        return self.bot_user

    async def _m_getUpdates(self, params: JSON, files: dict[str, bytes], call: Call) -> list[JSON]:
        if self._webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                                "deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        if params.get("allowed_updates") is not None:
            self._allowed = frozenset(params["allowed_updates"]) or UPDATE_TYPES_BY_DEFAULT
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            self._pending = [u for u in self._pending if self._allowed.intersection(u)]
            if self._pending or time.monotonic() >= deadline:
                return self._pending[:limit]
            wake = self._wake_poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), deadline - time.monotonic())

    async def _m_setWebhook(self, params: JSON, files: dict[str, bytes], call: Call) -> bool:
        url = params.get("url") or ""
        if url and not url.startswith(("https://", "http://127.0.0.1")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if params.get("allowed_updates") is not None:
            self._allowed = frozenset(params["allowed_updates"]) or UPDATE_TYPES_BY_DEFAULT
        self._webhook = {"url": url, "secret_token": params.get("secret_token") or "",
                         "max_connections": int(params.get("max_connections") or 40)}
        if url and self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._deliver_webhooks())
        return True

    async def _m_deleteWebhook(self, params: JSON, files: dict[str, bytes], call: Call) -> bool:
        self._webhook = {}
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _m_getWebhookInfo(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        return {"url": self._webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
                "max_connections": self._webhook.get("max_connections", 40),
                "allowed_updates": sorted(self._allowed)}

    async def _deliver_webhooks(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                url = self._webhook.get("url")
                if not url or not self._pending:
                    wake = self._wake_poll
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), 0.5)
                    continue
                update = self._pending[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": self._webhook["secret_token"]}
                try:
                    async with session.post(url, json=update, headers=headers) as resp:
                        delivered = resp.status < 300
                except aiohttp.ClientError:
                    delivered = False
                if delivered:
                    self._pending.remove(update)
                else:  # Telegram retries a failing webhook later
                    await asyncio.sleep(0.2)

    async def _m_setMyCommands(self, params: JSON, files: dict[str, bytes], call: Call) -> bool:
        self.commands = params.get("commands") or []
        return True

    async def _m_getMyCommands(self, params: JSON, files: dict[str, bytes], call: Call) -> list[JSON]:
        return self.commands

    async def _m_sendMessage(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        text = params.get("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._bot_message(params, text=text)

    async def _m_sendPhoto(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        self._chat(params.get("chat_id"))
        photo = files.get("photo", params.get("photo"))
        sizes = self._input_photo(photo, files, call)
        msg = self._bot_message(params, photo=sizes)
        caption = params.get("caption")
        if caption:
            if len(caption) > 1024:
                raise ApiError(400, "Bad Request: message caption is too long")
            msg["caption"] = caption
        return msg

    async def _m_sendMediaGroup(self, params: JSON, files: dict[str, bytes], call: Call) -> list[JSON]:
        """An album: 2-10 photos, each with its own caption; Telegram answers with one message per photo. The
        call's `photos` holds them all (`photo`: the first)."""
        self._chat(params.get("chat_id"))
        media = params.get("media") or []
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album")
        messages, photos = [], []
        for item in media:
            if item.get("type") != "photo":
                raise ApiError(400, "Bad Request: can't parse InputMedia: unsupported media type")
            sizes = self._input_photo(item.get("media"), files, call)
            photos.append(call.photo)
            msg = self._bot_message(params, photo=sizes)
            if item.get("caption"):
                msg["caption"] = item["caption"]
            messages.append(msg)
        call.photo, call.photos = photos[0], photos
        return messages

    async def _m_sendChatAction(self, params: JSON, files: dict[str, bytes], call: Call) -> bool:
        self._chat(params.get("chat_id"))
        if params.get("action") not in ("typing", "upload_photo", "upload_document", "choose_sticker"):
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _m_editMessageText(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        msg = self._editable(params)
        if "text" not in msg:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        return self._save_edit(msg, params, text=params.get("text"))

    async def _m_editMessageCaption(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        msg = self._editable(params)
        return self._save_edit(msg, params, caption=params.get("caption"))

    async def _m_editMessageReplyMarkup(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        return self._save_edit(self._editable(params), params)

    async def _m_editMessageMedia(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        msg = self._editable(params)
        media = params.get("media") or {}
        if media.get("type") != "photo":
            raise ApiError(400, "Bad Request: can't parse InputMedia: unsupported media type")
        sizes = self._input_photo(media.get("media"), files, call)
        return self._save_edit(msg, params, photo=sizes, caption=media.get("caption"), text=None)

    async def _m_deleteMessage(self, params: JSON, files: dict[str, bytes], call: Call) -> bool:
        chat = self._chat(params.get("chat_id"))
        if self._messages.pop((chat["id"], int(params.get("message_id", 0))), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _m_answerCallbackQuery(self, params: JSON, files: dict[str, bytes], call: Call) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    async def _m_answerInlineQuery(self, params: JSON, files: dict[str, bytes], call: Call) -> bool:
        results = params.get("results") or []
        if len(results) > 50:
            raise ApiError(400, "Bad Request: too many inline query results specified")
        ids = [r.get("id") for r in results]
        if len(set(ids)) != len(ids) or any(not i or len(str(i).encode()) > 64 for i in ids):
            raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
        for result in results:
            file_id = result.get("photo_file_id")
            if result.get("type") == "photo" and file_id is not None and file_id not in self._files:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return True

    async def _m_getFile(self, params: JSON, files: dict[str, bytes], call: Call) -> JSON:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > 20 * 1024 * 1024:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data), "file_path": stored.file_path}


def _entities(text: str) -> list[JSON]:
    """bot_command and mention entities, as Telegram computes them (offsets in UTF-16 code units)."""
    entities: list[JSON] = []
    position = 0
    for word in text.split(" "):
        stripped = word.strip("\n")
        if stripped.startswith("/") and position == 0 and len(stripped) > 1:
            entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(stripped)})
        elif stripped.startswith("@") and len(stripped) > 1:
            offset = _utf16_len(text[:position])
            entities.append({"type": "mention", "offset": offset, "length": _utf16_len(stripped)})
        position += len(word) + 1
    return entities


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def _read_params(request: web.Request) -> tuple[JSON, dict[str, bytes]]:
    """Bot API parameters from the query string, a form, a multipart body or a JSON body."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        return {**raw, **(await request.json())}, files
    if request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
            else:
                raw[key] = value
    params: JSON = {}
    for key, value in raw.items():
        if key == "chat_id":
            params[key] = int(value) if str(value).lstrip("-").isdigit() else value
        elif key in STRING_FIELDS:
            params[key] = value
        else:
            try:
                params[key] = json.loads(value)
            except (TypeError, ValueError):
                params[key] = value
    return params, files


def _error_response(err: ApiError) -> web.Response:
    body: JSON = {"ok": False, "error_code": err.code, "description": err.description}
    if err.retry_after is not None:
        body["parameters"] = {"retry_after": err.retry_after}
    return web.json_response(body, status=err.code)
