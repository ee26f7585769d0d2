"""What the bot does with each Telegram update: chats and buttons in, MemeService calls, photos out.

Every handler runs behind `_guarded`: a core error becomes the person's message in their language, a Telegram
failure (after the retries in `retry.py`) is logged, anything else is logged and answered with "internal".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultCachedPhoto,
    InlineQueryResultsButton,
    InputMediaPhoto,
    Message,
    MessageEntity,
    PhotoSize,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from core.errors import FffusionError, InputError
from core.images import check_size
from core.messages import pick_lang, render
from core.service.service import MemeResult, MemeService, Person

log = logging.getLogger(__name__)

PLATFORM = "telegram"
Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context, Person], Awaitable[None]]

CHAT_ACTION_EVERY_S = 4.0  # Telegram shows a chat action for 5 s
SETFACE_WAIT_S = 600.0  # "/setface" then the photo: how long the bot waits for that photo
INLINE_RESULTS = 4
INLINE_DEBOUNCE_S = 0.3  # Telegram sends a query per keystroke: only the one the person stopped at is worked on
INLINE_OWN_CACHE_S = 600.0  # our cache is dropped when the person's face changes; Telegram's is not (cache_time)
CAPTION_MAX = 1024
BUTTON_TEXT_MAX = 64
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".heic", ".tif", ".tiff")
# callback data (<= 64 bytes): kind | owner's user id | payload
NEXT, DELETE = "n", "d"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "inline_query")
COMMANDS = (("meme", "telegram.cmd_meme"), ("setface", "telegram.cmd_setface"),
            ("deleteface", "telegram.cmd_deleteface"), ("help", "telegram.cmd_help"))

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small in-memory map whose entries expire, bounded in size (oldest out first)."""

    def __init__(self, ttl_s: float, max_items: int) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: K, value: V) -> None:
        self._items[key] = (time.monotonic() + self.ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def pop(self, key: K) -> V | None:
        value = self.get(key)
        self._items.pop(key, None)
        return value

    def drop(self, where: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if where(k)]:
            del self._items[key]


async def set_commands(bot: Bot) -> None:
    """The command menu, Korean by default and English for English clients."""
    for lang in ("ko", "en"):
        commands = [BotCommand(name, render(key, lang)) for name, key in COMMANDS]
        await bot.set_my_commands(commands, language_code=None if lang == "ko" else lang)


def person_of(update: Update) -> Person | None:
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    return Person(PLATFORM, str(user.id), pick_lang(user.language_code))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _caption(result: MemeResult, lang: str) -> str:
    text = result.caption
    if result.notice:
        text += "\n\n" + render(result.notice, lang)
    return _clip(text, CAPTION_MAX)


def _image_of(message: Message | None) -> PhotoSize | Document | None:
    """The image a message carries: the largest photo size, or a document that is (or claims to be) one."""
    if message is None:
        return None
    if message.photo:
        return message.photo[-1]
    return message.document


class TelegramHandlers:
    def __init__(self, service: MemeService, cache_chat: str = "", inline_cache_s: int = 60) -> None:
        self.service = service
        chat = cache_chat.strip()  # a numeric id or "@channelname"
        self.cache_chat: int | str | None = int(chat) if chat.lstrip("-").isdigit() else (chat or None)
        self.inline_cache_s = inline_cache_s
        self._setface_waiting: TtlCache[tuple[int, int], str] = TtlCache(SETFACE_WAIT_S, 10_000)
        # (person, sentence) -> (results, whether to offer the button that leads to /setface)
        self._inline: TtlCache[tuple[str, str], tuple[list[InlineQueryResultCachedPhoto], bool]] = TtlCache(
            INLINE_OWN_CACHE_S, 2_000)
        self._inline_latest: dict[str, str] = {}
        self._editing: set[tuple[int, int]] = set()

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        # new messages, but not the inline results people post "via" this bot
        new = filters.UpdateType.MESSAGE & ~filters.VIA_BOT
        app.add_handlers([
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, self._guarded(self.edited)),
            CommandHandler(["start", "help"], self._guarded(self.help), filters=new),
            CommandHandler("setface", self._guarded(self.setface_command), filters=new),
            CommandHandler("deleteface", self._guarded(self.deleteface), filters=new),
            CommandHandler("meme", self._guarded(self.meme_command), filters=new),
            MessageHandler(new & (filters.PHOTO | filters.Document.ALL), self._guarded(self.image)),
            MessageHandler(new & filters.TEXT & ~filters.COMMAND, self._guarded(self.text)),
            MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, self._guarded(self.help)),
            MessageHandler(new, self._guarded(self.unsupported)),
            CallbackQueryHandler(self._guarded(self.next_meme), pattern=rf"^{NEXT}\|"),
            CallbackQueryHandler(self._guarded(self.delete_answer), pattern=rf"^{DELETE}\|"),
            InlineQueryHandler(self._guarded(self.inline)),
        ])
        app.add_error_handler(self._on_error)

    # ------------------------------------------------------------------------------------ plumbing
    def _guarded(self, handler: Handler) -> Callable[[Update, Context], Awaitable[None]]:
        async def run(update: Update, context: Context) -> None:
            person = person_of(update)
            if person is None:
                return
            try:
                await handler(update, context, person)
            except FffusionError as err:
                await self._tell(update, person, render(err.key, person.lang, **err.params))
            except TelegramError as err:  # already retried where that helps; the bot carries on
                log.warning("telegram: %s: %s", type(err).__name__, err)
            except Exception:
                log.exception("telegram: unexpected failure on update %s", update.update_id)
                await self._tell(update, person, render("internal", person.lang))

        return run

    async def _tell(self, update: Update, person: Person, text: str) -> None:
        """Says `text` where the person will see it; a failure to say it is only logged."""
        try:
            if update.inline_query is not None:
                button = InlineQueryResultsButton(_clip(text, BUTTON_TEXT_MAX), start_parameter="help")
                await update.inline_query.answer([], cache_time=0, is_personal=True, button=button)
            elif update.callback_query is not None:
                await self._tell_callback(update.callback_query, text)
            elif update.effective_message is not None:
                await update.effective_message.reply_text(text)
        except TelegramError as err:
            log.warning("telegram: could not tell user %s: %s", person.user_id, err)

    @staticmethod
    async def _tell_callback(query: CallbackQuery, text: str) -> None:
        if query.message is not None and query.message.is_accessible:
            await query.get_bot().send_message(query.message.chat.id, text,
                                               reply_parameters=ReplyParameters(query.message.message_id))
        else:
            await query.answer(_clip(text, 200), show_alert=True)

    async def _on_error(self, update: object, context: Context) -> None:
        log.error("telegram: update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)

    @contextlib.asynccontextmanager
    async def _working(self, bot: Bot, chat_id: int) -> AsyncIterator[None]:
        """Shows "sending a photo…" in the chat until the block ends."""

        async def keep_showing() -> None:
            while True:
                try:
                    await bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
                except TelegramError as err:
                    log.debug("chat action in %s: %s", chat_id, err)
                    return
                await asyncio.sleep(CHAT_ACTION_EVERY_S)

        task = asyncio.create_task(keep_showing())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _with_photo(self, result: MemeResult, send: Callable[[str | bytes], Awaitable[Message | bool]]
                          ) -> None:
        """Sends the result's image by the file id Telegram gave it last time, else uploads it and remembers
        the new file id, so the same image is uploaded once."""
        file_id = await self.service.uploaded(PLATFORM, result.result_key)
        if file_id is not None:
            try:
                await send(file_id)
                return
            except BadRequest as err:
                if "file" not in err.message.lower():
                    raise
                log.info("telegram refused a remembered file id (%s): uploading again", err.message)
        sent = await send(result.image)
        if isinstance(sent, Message) and sent.photo:
            await self.service.remember_upload(PLATFORM, result.result_key, sent.photo[-1].file_id)

    def _next_markup(self, result: MemeResult, person: Person) -> InlineKeyboardMarkup | None:
        if not result.has_next:
            return None
        data = f"{NEXT}|{person.user_id}|{result.request_id}"
        if len(data.encode()) > 64:  # Telegram's limit; request ids are short, but never send a broken button
            log.error("request id too long for a button: %r", result.request_id)
            return None
        button = InlineKeyboardButton(render("telegram.next_button", person.lang), callback_data=data)
        return InlineKeyboardMarkup([[button]])

    async def _feedback(self, person: Person, request_id: str, kept: bool) -> None:
        try:
            await self.service.feedback(person, request_id, kept=kept)
        except FffusionError as err:  # feedback only tunes ranking: nothing to tell the person
            log.debug("feedback on %s not recorded: %s", request_id, err.key)

    def _forget_inline(self, person: Person) -> None:
        self._inline.drop(lambda key: key[0] == person.user_id)

    # -------------------------------------------------------------------------------- conversation
    async def help(self, update: Update, context: Context, person: Person) -> None:
        await self.service.set_lang(person)
        assert update.effective_message is not None
        await update.effective_message.reply_text(render("telegram.help", person.lang, bot=context.bot.username))

    def _addressed_text(self, message: Message, bot: Bot) -> str | None:
        """The sentence of a message meant for the bot without its @mention, or None if it is not for the bot:
        everything in a private chat; a mention of the bot or a reply to it in a group."""
        text = message.text or ""
        mentions = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
        ours = [part for entity, part in mentions.items()
                if (entity.type == MessageEntity.MENTION and part[1:].lower() == (bot.username or "").lower())
                or (entity.user is not None and entity.user.id == bot.id)]
        replied = message.reply_to_message
        to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot.id
        if message.chat.type != ChatType.PRIVATE and not ours and not to_bot:
            return None
        for part in ours:
            text = text.replace(part, " ", 1)
        return " ".join(text.split())

    async def text(self, update: Update, context: Context, person: Person) -> None:
        assert update.effective_message is not None
        sentence = self._addressed_text(update.effective_message, context.bot)
        if sentence is not None:
            await self._meme(update.effective_message, context.bot, person, sentence)

    async def meme_command(self, update: Update, context: Context, person: Person) -> None:
        assert update.effective_message is not None
        await self._meme(update.effective_message, context.bot, person, " ".join(context.args or ()))

    async def _meme(self, message: Message, bot: Bot, person: Person, sentence: str) -> None:
        async with self._working(bot, message.chat.id):
            result = await self.service.make_meme(person, sentence)
        caption = _caption(result, person.lang)
        markup = self._next_markup(result, person)
        await self._with_photo(result, lambda photo: message.reply_photo(photo, caption=caption,
                                                                         reply_markup=markup))

    @staticmethod
    async def _button_payload(query: CallbackQuery | None, person: Person) -> str | None:
        """What a pressed button carries, if the person pressing it is the one it was made for."""
        assert query is not None and query.data is not None
        _, owner, payload = query.data.split("|", 2)
        if owner != person.user_id:
            await query.answer(render("telegram.not_yours", person.lang), show_alert=True)
            return None
        return payload

    async def next_meme(self, update: Update, context: Context, person: Person) -> None:
        query = update.callback_query
        request_id = await self._button_payload(query, person)
        if query is None or request_id is None:
            return
        if query.message is None or not query.message.is_accessible:  # older than 48 h: cannot be edited
            await query.answer(render("telegram.no_longer", person.lang), show_alert=True)
            return
        key = (query.message.chat.id, query.message.message_id)
        if key in self._editing:
            await query.answer(render("telegram.busy", person.lang))
            return
        self._editing.add(key)
        try:
            await query.answer()
            await self._feedback(person, request_id, kept=False)  # votes on the meme shown now: before next
            async with self._working(context.bot, query.message.chat.id):
                result = await self.service.next_meme(person, request_id)
            caption = _caption(result, person.lang)
            markup = self._next_markup(result, person)
            await self._with_photo(result, lambda photo: query.edit_message_media(
                InputMediaPhoto(photo, caption=caption), reply_markup=markup))
        finally:
            self._editing.discard(key)

    # -------------------------------------------------------------------------------------- faces
    async def setface_command(self, update: Update, context: Context, person: Person) -> None:
        message = update.effective_message
        assert message is not None and update.effective_user is not None
        name = " ".join(context.args or ()) or None
        if _image_of(message.reply_to_message) is not None:
            assert message.reply_to_message is not None
            await self._register(message, message.reply_to_message, context.bot, person, name)
            return
        self._setface_waiting.put((message.chat.id, update.effective_user.id), name or "")
        await message.reply_text(render("telegram.setface_send_photo", person.lang))

    async def image(self, update: Update, context: Context, person: Person) -> None:
        message = update.effective_message
        assert message is not None and update.effective_user is not None
        command = _caption_command(message.caption, context.bot.username)
        waiting = self._setface_waiting.pop((message.chat.id, update.effective_user.id))
        if command is not None and command[0] == "setface":
            await self._register(message, message, context.bot, person, command[1] or waiting or None)
        elif waiting is not None:
            await self._register(message, message, context.bot, person, waiting or None)
        elif message.chat.type == ChatType.PRIVATE:
            await message.reply_text(render("telegram.photo_hint", person.lang))

    async def _register(self, reply_to: Message, source: Message, bot: Bot, person: Person, name: str | None
                        ) -> None:
        media = _image_of(source)
        assert media is not None
        limits = self.service.limits
        if isinstance(media, Document) and not _looks_like_image(media):
            raise InputError("image.not_image")
        if media.file_size:  # refused before anything is downloaded
            check_size(media.file_size, limits)
        async with self._working(bot, reply_to.chat.id):
            file = await media.get_file()
            if file.file_size:
                check_size(file.file_size, limits)
            data = bytes(await file.download_as_bytearray())
            registration = await self.service.register_face(person, data, name)
        await self.service.set_lang(person)
        self._forget_inline(person)
        lines = [render("telegram.face_saved", person.lang, name=registration.name)]
        lines += [render(key, person.lang) for key in registration.notices]
        await reply_to.reply_photo(registration.crop_jpeg, caption=_clip("\n".join(lines), CAPTION_MAX))

    async def deleteface(self, update: Update, context: Context, person: Person) -> None:
        assert update.effective_message is not None
        buttons = [[InlineKeyboardButton(render("telegram.delete_yes", person.lang),
                                         callback_data=f"{DELETE}|{person.user_id}|yes"),
                    InlineKeyboardButton(render("telegram.delete_no", person.lang),
                                         callback_data=f"{DELETE}|{person.user_id}|no")]]
        await update.effective_message.reply_text(render("telegram.delete_confirm", person.lang),
                                                  reply_markup=InlineKeyboardMarkup(buttons))

    async def delete_answer(self, update: Update, context: Context, person: Person) -> None:
        query = update.callback_query
        answer = await self._button_payload(query, person)
        if query is None or answer is None:
            return
        await query.answer()
        if answer != "yes":
            await query.edit_message_text(render("telegram.delete_cancelled", person.lang))
            return
        deleted = await self.service.delete_person(person)
        self._forget_inline(person)
        self._setface_waiting.drop(lambda key: str(key[1]) == person.user_id)
        await query.edit_message_text(render("telegram.deleted" if deleted else "telegram.nothing_to_delete",
                                             person.lang))

    # ------------------------------------------------------------------------- what cannot be used
    async def edited(self, update: Update, context: Context, person: Person) -> None:
        message = update.edited_message
        assert message is not None
        command = _caption_command(message.text or message.caption, context.bot.username)
        if command is not None or self._addressed_text(message, context.bot) is not None:
            await message.reply_text(render("telegram.edited", person.lang))

    async def unsupported(self, update: Update, context: Context, person: Person) -> None:
        message = update.effective_message
        assert message is not None
        if self._addressed_text(message, context.bot) is not None:  # in groups only when it is for the bot
            await message.reply_text(render("telegram.unsupported", person.lang))

    # ------------------------------------------------------------------------------------- inline
    async def inline(self, update: Update, context: Context, person: Person) -> None:
        query = update.inline_query
        assert query is not None
        sentence = " ".join(query.query.split())
        start = InlineQueryResultsButton(render("telegram.inline_start", person.lang), start_parameter="setface")
        if not sentence:
            await query.answer([], cache_time=self.inline_cache_s, is_personal=True, button=start)
            return
        cached = self._inline.get((person.user_id, sentence))
        if cached is None:
            self._inline_latest[person.user_id] = query.id
            await asyncio.sleep(INLINE_DEBOUNCE_S)
            if self._inline_latest.get(person.user_id) != query.id:
                return  # the person kept typing; Telegram drops the unanswered query
            del self._inline_latest[person.user_id]
            memes = await self.service.candidates(person, sentence, INLINE_RESULTS)
            photos = await asyncio.gather(*(self._inline_photo(context.bot, meme, person) for meme in memes))
            results = [photo for photo in photos if photo is not None]
            cached = (results, not results or any(meme.notice == "face.not_registered" for meme in memes))
            self._inline.put((person.user_id, sentence), cached)
        results, offer_setface = cached
        # is_personal: results carry this person's face and must never be shown to anyone else
        await query.answer(results, cache_time=self.inline_cache_s, is_personal=True,
                           button=start if offer_setface else None)

    async def _inline_photo(self, bot: Bot, result: MemeResult, person: Person
                            ) -> InlineQueryResultCachedPhoto | None:
        """Inline results show photos by file id only (a photo URL would need a public web server), so an
        image Telegram has not seen yet is uploaded to the cache chat first; without one it is left out."""
        file_id = await self.service.uploaded(PLATFORM, result.result_key)
        if file_id is None and self.cache_chat is not None:
            sent = await bot.send_photo(self.cache_chat, result.image, caption=_clip(result.caption, CAPTION_MAX),
                                        disable_notification=True)
            file_id = sent.photo[-1].file_id
            await self.service.remember_upload(PLATFORM, result.result_key, file_id)
        if file_id is None:
            return None
        # unique within one answer: the candidates of a sentence share their request id
        return InlineQueryResultCachedPhoto(f"{result.request_id}.{result.rank}", file_id,
                                            caption=_caption(result, person.lang))



def _caption_command(text: str | None, bot_username: str | None) -> tuple[str, str] | None:
    """("setface", "회사용") from "/setface@thisbot 회사용" (a caption: CommandHandler reads texts only);
    None if it is no command for this bot."""
    if not text or not text.startswith("/"):
        return None
    head, *rest = text.split(maxsplit=1)
    name, _, target = head[1:].partition("@")
    if target and target.lower() != (bot_username or "").lower():
        return None
    return name.lower(), rest[0].strip() if rest else ""


def _looks_like_image(document: Document) -> bool:
    if document.mime_type:
        return document.mime_type.startswith("image/")
    return (document.file_name or "").lower().endswith(IMAGE_SUFFIXES)
