"""What the bot does with each Telegram update: chats and buttons in, intents to the conversation, photos out.

Telegram events become intents for the conversation (core/service/conversation.py); its replies become
messages, photos and inline keyboards. Telegram's own: who a group message is for, "/setface" then a photo,
editing a message in place for "다른 짤", and inline mode. Every handler runs behind `_guarded`: a Telegram
failure (after the retries in `retry.py`) is logged, anything else is answered through the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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

from core.bounded import Bounded
from core.errors import InputError, ServiceError
from core.images import check_pixels, check_size
from core.limits import Limits
from core.messages import pick_lang, render
from core.service import chat as talk
from core.service.chat import FriendRef, Person
from core.text import face_number

log = logging.getLogger(__name__)

PLATFORM = "telegram"
Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context, Person], Awaitable[None]]

CHAT_ACTION_EVERY_S = 4.0  # Telegram shows a chat action for 5 s
INLINE_RESULTS = 4
INLINE_DEBOUNCE_S = 0.3  # Telegram sends a query per keystroke: only the one the person stopped at is worked on
INLINE_OWN_CACHE_S = 600.0  # ours is keyed by the person's stamp (their face, their deletion); Telegram's is not
CAPTION_MAX = 1024
BUTTON_TEXT_MAX = 64
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".heic", ".tif", ".tiff")
# callback data (<= 64 bytes): kind | owner's user id | payload
NEXT, DELETE, CHOICES, PICK = "n", "d", "c", "p"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "inline_query")
COMMANDS = (("meme", "telegram.cmd_meme"), ("setface", "telegram.cmd_setface"), ("faces", "telegram.cmd_faces"),
            ("swap", "telegram.cmd_swap"), ("shareface", "telegram.cmd_shareface"),
            ("subtitle", "telegram.cmd_subtitle"), ("deleteface", "telegram.cmd_deleteface"),
            ("help", "telegram.cmd_help"))
ON_OFF = {"on": True, "켜기": True, "off": False, "끄기": False}

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


def _image_of(message: Message | None) -> PhotoSize | Document | None:
    """The image a message carries: the largest photo size, or a document that is (or claims to be) one."""
    if message is None:
        return None
    if message.photo:
        return message.photo[-1]
    return message.document


class TelegramHandlers:
    def __init__(self, conversation: talk.Conversation, cache_chat: str, inline_cache_s: int) -> None:
        self.conversation = conversation
        chat = cache_chat.strip()  # a numeric id or "@channelname"
        self.cache_chat: int | str | None = int(chat) if chat.lstrip("-").isdigit() else (chat or None)
        self.inline_cache_s = inline_cache_s
        # (person, their stamp in the shared store, sentence) -> (results, whether to offer the button that leads
        # to /setface): a deletion or a new face through any instance changes the stamp, so it is never served again
        self._inline: Bounded[tuple[str, str | None, str], tuple[list[InlineQueryResultCachedPhoto], bool]] = (
            Bounded(2_000, ttl_s=INLINE_OWN_CACHE_S))
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
            CommandHandler("swap", self._guarded(self.swap_command), filters=new),
            CommandHandler("shareface", self._guarded(self.shareface), filters=new),
            CommandHandler("faces", self._guarded(self.faces), filters=new),
            CommandHandler("subtitle", self._guarded(self.subtitle), filters=new),
            MessageHandler(new & (filters.PHOTO | filters.Document.ALL), self._guarded(self.image)),
            MessageHandler(new & filters.TEXT & ~filters.COMMAND, self._guarded(self.text)),
            MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, self._guarded(self.help)),
            MessageHandler(new, self._guarded(self.unsupported)),
            CallbackQueryHandler(self._guarded(self.next_meme), pattern=rf"^{NEXT}\|"),
            CallbackQueryHandler(self._guarded(self.delete_answer), pattern=rf"^{DELETE}\|"),
            CallbackQueryHandler(self._guarded(self.choose), pattern=rf"^({CHOICES}|{PICK})\|"),
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
            except TelegramError as err:  # already retried where that helps; the bot carries on
                log.warning("telegram: %s: %s", type(err).__name__, err)
            except Exception as err:
                await self._tell(update, person, self.conversation.failure(person, err).text)

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

    async def _handle(self, bot: Bot, chat_id: int, person: Person, intent: talk.Intent) -> talk.Reply:
        async with self._working(bot, chat_id):
            return await self.conversation.handle(person, intent)

    async def _reply(self, message: Message, person: Person, reply: talk.Reply) -> None:
        """A reply under the person's message: text with its buttons, or a photo with the text as caption; a
        choice is an album of the memes, numbered, then the text with one button per number."""
        markup = _markup(reply, person)
        if reply.choices:
            album = [InputMediaPhoto(c.image, caption=_clip(f"{n}. {c.caption}", CAPTION_MAX))
                     for n, c in enumerate(reply.choices, 1)]
            await message.reply_media_group(album)
            await message.reply_text(reply.text, reply_markup=markup)
            return
        if reply.image is None:
            await message.reply_text(reply.text, reply_markup=markup)
            return
        caption = _clip(reply.text, CAPTION_MAX)
        await self._with_photo(reply, lambda photo: message.reply_photo(photo, caption=caption, reply_markup=markup))

    async def _with_photo(self, reply: talk.Reply, send: Callable[[str | bytes], Awaitable[Message | bool]]) -> None:
        """Sends the reply's image by the file id Telegram gave it last time, else uploads it and remembers
        the new file id, so the same image is uploaded once."""
        assert reply.image is not None
        image = reply.image
        if reply.result_key is None:  # an image of its own (a face crop): never sent twice
            await send(image)
            return

        async def by_id(file_id: str) -> bool:
            try:
                await send(file_id)
                return True
            except BadRequest as err:
                if "file" not in err.message.lower():
                    raise
                log.info("telegram refused a remembered file id (%s): uploading again", err.message)
                return False

        async def upload() -> str | None:
            sent = await send(image)
            return sent.photo[-1].file_id if isinstance(sent, Message) and sent.photo else None

        await self.conversation.uploads.send(PLATFORM, reply.result_key, by_id, upload)

    # -------------------------------------------------------------------------------- conversation
    async def help(self, update: Update, context: Context, person: Person) -> None:
        assert update.effective_message is not None
        reply = await self.conversation.handle(person, talk.HelpIntent(context.bot.username or ""))
        await self._reply(update.effective_message, person, reply)

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
        """A sentence; in a group, the people it mentions, and the one it replies to, are friends for a group
        meme (with those who allowed it in this group)."""
        friends: dict[str, FriendRef] = {}
        if message.chat.type != ChatType.PRIVATE:
            for entity, part in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
                if entity.user is not None and not entity.user.is_bot:
                    friends.setdefault(part, FriendRef(part, user_id=str(entity.user.id)))
                elif entity.type == MessageEntity.MENTION and part[1:].lower() != (bot.username or "").lower():
                    friends.setdefault(part, FriendRef(part, handle=part))
            for part in friends:  # the mentions, not the sentence's other words
                sentence = sentence.replace(part, " ")
            replied = message.reply_to_message.from_user if message.reply_to_message else None
            if replied is not None and not replied.is_bot and str(replied.id) != person.user_id:
                label = f"@{replied.username}" if replied.username else replied.first_name
                friends.setdefault(label, FriendRef(label, user_id=str(replied.id)))
        chat = None if message.chat.type == ChatType.PRIVATE else str(message.chat.id)
        intent = talk.TextIntent(" ".join(sentence.split()), None, tuple(friends.values()), chat)
        reply = await self._handle(bot, message.chat.id, person, intent)
        await self._reply(message, person, reply)

    async def faces(self, update: Update, context: Context, person: Person) -> None:
        assert update.effective_message is not None
        await self._reply(update.effective_message, person, await self.conversation.handle(person, talk.FacesIntent()))

    async def shareface(self, update: Update, context: Context, person: Person) -> None:
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None
        chat = None if message.chat.type == ChatType.PRIVATE else str(message.chat.id)
        on = ON_OFF.get(" ".join(context.args or ()).strip().lower())
        intent = talk.ShareFaceIntent(chat, on, user.full_name, user.username)
        await self._reply(message, person, await self.conversation.handle(person, intent))

    async def subtitle(self, update: Update, context: Context, person: Person) -> None:
        """/subtitle on|off: the sender's sentence as the 자막 of every meme in this chat; bare: whether it is on."""
        message = update.effective_message
        assert message is not None
        chat = None if message.chat.type == ChatType.PRIVATE else str(message.chat.id)
        on = ON_OFF.get(" ".join(context.args or ()).strip().lower())
        await self._reply(message, person, await self.conversation.handle(person, talk.SubtitleIntent(on, chat)))

    async def swap_command(self, update: Update, context: Context, person: Person) -> None:
        """/swap [all | largest | N] [face name] as a reply to a photo."""
        message = update.effective_message
        assert message is not None
        await self._swap(message, message.reply_to_message, context.bot, person, " ".join(context.args or ()))

    async def _swap(self, message: Message, source: Message | None, bot: Bot, person: Person, args: str) -> None:
        media = _image_of(source)
        target, face = _swap_args(args)
        if media is None:
            reply = self.conversation.failure(person, InputError("picture.needs_image"))
        else:
            limits = self.conversation.limits
            intent = talk.SwapPictureIntent(_download(media, limits), None, _media_check(media, limits), face, target)
            reply = await self._handle(bot, message.chat.id, person, intent)
        await self._reply(message, person, reply)

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
            reply = await self._handle(context.bot, query.message.chat.id, person, talk.NextIntent(request_id))
            if reply.image is None:
                await self._tell_callback(query, reply.text)
                return
            caption, markup = _clip(reply.text, CAPTION_MAX), _markup(reply, person)
            await self._with_photo(reply, lambda photo: query.edit_message_media(
                InputMediaPhoto(photo, caption=caption), reply_markup=markup))
        finally:
            self._editing.discard(key)

    async def choose(self, update: Update, context: Context, person: Person) -> None:
        """A tap on a choice's number (the meme, with the person's face) or on "골라보기" / a choice's "다른 짤"
        (the next memes to choose from), answered under the message that had the button."""
        query = update.callback_query
        payload = await self._button_payload(query, person)
        if query is None or payload is None:
            return
        if query.message is None or not query.message.is_accessible:
            await query.answer(render("telegram.no_longer", person.lang), show_alert=True)
            return
        key = (query.message.chat.id, query.message.message_id)
        if key in self._editing:  # a double tap: the first is being answered
            await query.answer(render("telegram.busy", person.lang))
            return
        self._editing.add(key)
        try:
            await query.answer()
            request_id, _, index = payload.partition(".")
            assert query.data is not None
            intent: talk.Intent = (talk.PickIntent(request_id, int(index)) if query.data.startswith(PICK)
                                   else talk.ChoicesIntent(request_id))
            reply = await self._handle(context.bot, query.message.chat.id, person, intent)
            assert isinstance(query.message, Message)
            await self._reply(query.message, person, reply)
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
        # kept by the service (in Redis with several instances): the photo may reach another instance
        await self.conversation.pending.put(person, str(message.chat.id), name or "")
        await message.reply_text(render("telegram.setface_send_photo", person.lang))

    async def image(self, update: Update, context: Context, person: Person) -> None:
        message = update.effective_message
        assert message is not None and update.effective_user is not None
        command = _caption_command(message.caption, context.bot.username)
        waiting = await self.conversation.pending.pop(person, str(message.chat.id))
        if command is not None and command[0] == "setface":
            await self._register(message, message, context.bot, person, command[1] or waiting or None)
        elif command is not None and command[0] == "swap":
            await self._swap(message, message, context.bot, person, command[1])
        elif waiting is not None:
            await self._register(message, message, context.bot, person, waiting or None)
        elif message.chat.type == ChatType.PRIVATE:
            await message.reply_text(render("telegram.photo_hint", person.lang))

    async def _register(self, reply_to: Message, source: Message, bot: Bot, person: Person, name: str | None
                        ) -> None:
        media = _image_of(source)
        assert media is not None
        limits = self.conversation.limits
        intent = talk.PhotoIntent(_download(media, limits), name, _media_check(media, limits))
        await self._reply(reply_to, person, await self._handle(bot, reply_to.chat.id, person, intent))

    async def deleteface(self, update: Update, context: Context, person: Person) -> None:
        assert update.effective_message is not None
        await self._reply(update.effective_message, person, await self.conversation.handle(person, talk.DeleteIntent()))

    async def delete_answer(self, update: Update, context: Context, person: Person) -> None:
        query = update.callback_query
        answer = await self._button_payload(query, person)
        if query is None or answer is None:
            return
        await query.answer()
        reply = await self.conversation.handle(person, talk.DeleteIntent(answer == "yes"))
        if answer == "yes":
            await self.conversation.pending.forget(person)
        await query.edit_message_text(reply.text)

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
        # read before the work: an answer made while the person is deleted is kept under the stamp they had
        key = (person.user_id, await self.conversation.stamp(person), sentence)
        cached = self._inline.get(key)
        if cached is None:
            self._inline_latest[person.user_id] = query.id
            await asyncio.sleep(INLINE_DEBOUNCE_S)
            if self._inline_latest.get(person.user_id) != query.id:
                return  # the person kept typing; Telegram drops the unanswered query
            del self._inline_latest[person.user_id]
            # the top k at once: one rate-limit hit, no votes (nothing was skipped)
            replies = await self.conversation.top(person, sentence, INLINE_RESULTS)
            photos = await asyncio.gather(*(self._inline_photo(context.bot, n, reply) for n, reply in
                                            enumerate(replies)))
            results = [photo for photo in photos if photo is not None]
            cached = (results, not results or not await self.conversation.face_names(person))
            self._inline.put(key, cached)
        results, offer_setface = cached
        # is_personal: results carry this person's face and must never be shown to anyone else
        await query.answer(results, cache_time=self.inline_cache_s, is_personal=True,
                           button=start if offer_setface else None)

    async def _inline_photo(self, bot: Bot, n: int, reply: talk.Reply) -> InlineQueryResultCachedPhoto | None:
        """Inline results show photos by file id only (a photo URL would need a public web server), so an
        image Telegram has not seen yet is uploaded to the cache chat first; without one it is left out."""
        assert reply.image is not None and reply.result_key is not None
        image, cache_chat = reply.image, self.cache_chat

        async def known(_: str) -> bool:
            return True

        async def upload() -> str | None:
            if cache_chat is None:
                return None
            sent = await bot.send_photo(cache_chat, image, caption=_clip(reply.title, CAPTION_MAX),
                                        disable_notification=True)
            return sent.photo[-1].file_id

        file_id = await self.conversation.uploads.send(PLATFORM, reply.result_key, known, upload)
        if file_id is None:
            return None
        # unique within one answer: the memes of a sentence share their request id
        return InlineQueryResultCachedPhoto(f"{reply.request_id}.{n}", file_id, caption=_clip(reply.text, CAPTION_MAX))


def _markup(reply: talk.Reply, person: Person) -> InlineKeyboardMarkup | None:
    """The reply's buttons; callback data (<= 64 bytes) is kind | owner's user id | payload."""
    buttons = []
    for button in reply.buttons:
        if not button.enabled:
            continue
        if button.action is talk.Action.NEXT:
            data = f"{NEXT}|{person.user_id}|{button.request_id}"
        elif button.action is talk.Action.CHOICES:
            data = f"{CHOICES}|{person.user_id}|{button.request_id}"
        elif button.action is talk.Action.PICK:
            data = f"{PICK}|{person.user_id}|{button.request_id}.{button.index}"
        else:
            data = f"{DELETE}|{person.user_id}|{'yes' if button.action is talk.Action.DELETE_CONFIRM else 'no'}"
        if len(data.encode()) > 64:  # Telegram's limit; request ids are short, but never send a broken button
            log.error("button data too long: %r", data)
            continue
        buttons.append(InlineKeyboardButton(button.label, callback_data=data))
    return InlineKeyboardMarkup([buttons]) if buttons else None


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


def _media_check(media: PhotoSize | Document, limits: Limits | None = None) -> Callable[[], None]:
    """Refuses from what Telegram reports, before anything is downloaded (the size too, given limits)."""

    def check() -> None:
        if isinstance(media, Document) and not _looks_like_image(media):
            raise InputError("image.not_image")
        if limits is not None and media.file_size:
            check_size(media.file_size, limits)
        if limits is not None and isinstance(media, PhotoSize):  # a photo's pixels are known before it is fetched
            check_pixels(media.width, media.height, limits)

    return check


def _download(media: PhotoSize | Document, limits: Limits) -> Callable[[], Awaitable[bytes]]:
    """The file through getFile, from Telegram's own file server only; refused when getFile says it is too big."""

    async def fetch() -> bytes:
        try:
            file = await media.get_file()
            if file.file_size:
                check_size(file.file_size, limits)
            return bytes(await file.download_as_bytearray())
        except TelegramError as err:
            log.warning("telegram: downloading the photo failed: %s", err)
            raise ServiceError("telegram.download_failed") from err

    return fetch


def _swap_args(args: str) -> tuple[str | None, str | None]:
    """(target, face name) from "/swap all", "/swap 2 회사용", "/swap 회사용"."""
    words = args.split()
    if words and (words[0].lower() in ("all", "largest") or face_number(words[0]) is not None):
        return words[0].lower(), " ".join(words[1:]) or None
    return None, " ".join(words) or None


def _looks_like_image(document: Document) -> bool:
    if document.mime_type:
        return document.mime_type.startswith("image/")
    return (document.file_name or "").lower().endswith(IMAGE_SUFFIXES)
