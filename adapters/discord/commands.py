"""Slash commands, buttons and every answer the Discord bot gives; all texts come from core.messages.

Rules of the road (Discord's, easy to get wrong):
- An interaction must be acknowledged within 3 seconds, so anything slow is deferred first.
- The first followup after a defer replaces the "thinking" placeholder and keeps the defer's visibility.
  /meme defers publicly, so a sentence that cannot work is refused before the defer (ephemeral), and a
  failure after it deletes the placeholder first so the error can still be ephemeral.
- Buttons carry their state in the custom_id (DynamicItem) so they keep working after a restart.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, cast

import aiohttp
import discord
from discord import app_commands
from discord.app_commands import locale_str

from adapters.fetch import GuardedFetcher, Refusals
from core.errors import InputError, ServiceError
from core.images import check_pixels, check_size
from core.limits import Limits
from core.messages import pick_lang, render
from core.service import chat as talk
from core.service.chat import FriendRef, Person

log = logging.getLogger(__name__)

PLATFORM = "discord"
MENTION = re.compile(r"<@!?(\d+)>")  # a person mentioned in a slash command's text
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
REFUSALS = Refusals(not_allowed="picture.host_not_allowed", failed="picture.download_failed")
ON_OFF = {"on": True, "off": False}
ON_OFF_CHOICES = [app_commands.Choice(name=word, value=word) for word in ON_OFF]
PLACEHOLDER = "fffusion_public_placeholder"  # interaction.extras flag: a public "thinking" message is showing
# Discord shows name localizations for Korean and description localizations for English clients.
_LANG_OF = {discord.Locale.korean: "ko", discord.Locale.american_english: "en", discord.Locale.british_english: "en"}


def person_of(interaction: discord.Interaction) -> Person:
    return Person(PLATFORM, str(interaction.user.id), pick_lang(interaction.locale.value))


def chat_of(interaction: discord.Interaction) -> str | None:
    """The server a command came from; None in direct messages (a private chat: the person's own)."""
    return str(interaction.guild_id) if interaction.guild_id else None


# ------------------------------------------------------------------------------------------- localization
class Texts(app_commands.Translator):
    """Localizations from core.messages: a locale_str carries its message key in extras."""

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        key, lang = string.extras.get("key"), _LANG_OF.get(locale)
        if key is None or lang is None:
            return None
        text = render(key, lang)
        return None if text == string.message else text


def _name(key: str) -> locale_str:
    """A command or option name: the English word is the base (typeable anywhere), Korean its localization."""
    return locale_str(render(key, "en"), key=key)


def _desc(key: str) -> locale_str:
    """A description: Korean is the base (every non-English client reads Korean, as with pick_lang)."""
    return locale_str(render(key + ".desc", "ko"), key=key + ".desc")


# ------------------------------------------------------------------------------------------- buttons
_Button = discord.ui.Button[Any]


class ActionButton(discord.ui.DynamicItem[_Button],
                   template=r"fffusion:(?P<kind>next|choices|pick|delete):(?P<uid>\d+):(?P<payload>[\w.-]+)"):
    """A reply's button: '다른 짤' (payload: the request id; the same message is edited), '골라보기' or a choice's
    '다른 짤' (the request id), a choice's number (request id.index) or /deleteface's confirm and cancel (payload:
    yes or no). Its state lives in the custom_id, so it works after a restart."""

    def __init__(self, uid: int, kind: str, payload: str, label: str = "", disabled: bool = False) -> None:
        style = discord.ButtonStyle.primary if kind in ("next", "pick") else (
            discord.ButtonStyle.danger if payload == "yes" else discord.ButtonStyle.secondary)
        custom_id = f"fffusion:{kind}:{uid}:{payload}"
        super().__init__(discord.ui.Button(label=label or None, style=style, custom_id=custom_id, disabled=disabled))
        self.uid, self.kind, self.payload = uid, kind, payload

    @classmethod
    def of(cls, uid: int, button: talk.Button) -> ActionButton:
        if button.action is talk.Action.NEXT:
            return cls(uid, "next", button.request_id, button.label, disabled=not button.enabled)
        if button.action is talk.Action.CHOICES:
            return cls(uid, "choices", button.request_id, button.label, disabled=not button.enabled)
        if button.action is talk.Action.PICK:
            return cls(uid, "pick", f"{button.request_id}.{button.index}", button.label)
        return cls(uid, "delete", "yes" if button.action is talk.Action.DELETE_CONFIRM else "no", button.label)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ActionButton:
        return cls(int(match["uid"]), match["kind"], match["payload"])

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        handlers = _handlers(interaction)
        if self.kind == "next":
            await handlers.next_meme(interaction, self.uid, self.payload)
        elif self.kind in ("choices", "pick"):
            await handlers.choose(interaction, self.uid, self.kind, self.payload)
        else:
            await handlers.delete_choice(interaction, self.uid, self.payload == "yes")


class _WithHandlers(Protocol):
    """The bot's client (adapters.discord.bot.FffusionClient) as the buttons see it."""

    handlers: Handlers


def _handlers(interaction: discord.Interaction) -> Handlers:
    return cast(_WithHandlers, interaction.client).handlers


def _view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


# ------------------------------------------------------------------------------------------- checks
def check_attachment(attachment: discord.Attachment, limits: Limits) -> None:
    """Refuse from what Discord reports, before downloading anything."""
    check_size(attachment.size, limits)
    # No content type means Discord could not tell; the service checks the bytes themselves then.
    if attachment.content_type and not attachment.content_type.startswith("image/"):
        raise InputError("image.not_image")
    if attachment.width and attachment.height:
        jpeg = (attachment.content_type or "").startswith("image/jpeg")  # other formats decode whole: a lower limit
        check_pixels(attachment.width, attachment.height, limits, "JPEG" if jpeg else None)


class Picture:
    """A picture in a message someone posted: an image attachment, else an embed's image. Only its address
    and what Discord reports about it; nothing is downloaded until every check has passed."""

    def __init__(self, url: str, size: int | None = None, attachment: discord.Attachment | None = None) -> None:
        self.url = url
        self.size = size
        self.attachment = attachment

    @classmethod
    def of(cls, message: discord.Message) -> Picture:
        for attachment in message.attachments:
            kind = attachment.content_type or ""
            if kind.startswith("image/") or (not kind and attachment.filename.lower().endswith(IMAGE_SUFFIXES)):
                return cls(attachment.url, attachment.size, attachment)
        if message.attachments:  # files, but no picture among them
            raise InputError("image.not_image")
        for embed in message.embeds:
            for image in (embed.image, embed.thumbnail):
                # the copy on Discord's media proxy when there is one: a link's own host is anyone's
                url = image.proxy_url or image.url
                if url:
                    return cls(url)
        raise InputError("picture.needs_image")

    def check(self, fetcher: GuardedFetcher, limits: Limits) -> None:
        """Refuse from what Discord reports, and any address outside Discord's own file hosts."""
        fetcher.check(self.url)
        if self.attachment is not None:
            check_attachment(self.attachment, limits)


def log_discord_failure(err: discord.DiscordException, what: str) -> None:
    """Discord refused or failed: say which of the usual reasons it was. Never fatal."""
    if isinstance(err, discord.NotFound) and err.code in (10062, 10015):
        log.warning("%s: the interaction expired before we answered (Discord code %s)", what, err.code)
    elif isinstance(err, discord.Forbidden):
        log.warning("%s: missing permission (Discord code %s: %s)", what, err.code, err.text)
    elif isinstance(err, discord.RateLimited):
        log.warning("%s: rate limited for %.1f s, gave up", what, err.retry_after)
    elif isinstance(err, discord.HTTPException):
        log.warning("%s: Discord answered %s (code %s: %s)", what, err.status, err.code, err.text)
    else:
        log.warning("%s: %s", what, err)


# ------------------------------------------------------------------------------------------- handlers
class Handlers:
    """Interactions in, intents to the conversation, replies out under Discord's rules."""

    def __init__(self, conversation: talk.Conversation, image_hosts: Iterable[str] = ()) -> None:
        self.conversation = conversation
        #: posted pictures come from these hosts only (Discord's attachment CDN and media proxy), read up to the
        #: size limit (an embed's size is not known before)
        self.fetcher = GuardedFetcher(image_hosts, conversation.limits.max_image_bytes, REFUSALS, timeout_s=20)

    async def close(self) -> None:
        await self.fetcher.close()

    def _swap_intent(self, picture: Picture, face: str | None = None, target: str | None = None
                     ) -> talk.SwapPictureIntent:
        return talk.SwapPictureIntent(lambda: self.fetcher.fetch(picture.url), picture.size,
                                      lambda: picture.check(self.fetcher, self.conversation.limits), face, target)

    async def swap_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The message command "Swap my face": the person's face onto the picture in someone's message."""
        try:
            picture = Picture.of(message)
        except InputError as err:
            await self.tell(interaction, self.conversation.failure(person_of(interaction), err).text, "Swap my face")
            return
        await self._run(interaction, "Swap my face", self._swap_intent(picture), defer="public")

    async def swap(self, interaction: discord.Interaction, image: discord.Attachment, face: str | None,
                   target: str | None) -> None:
        picture = Picture(image.url, image.size, image)
        await self._run(interaction, "/swap", self._swap_intent(picture, face or None, target or None), defer="public")

    async def faces(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "/faces", talk.FacesIntent())

    async def shareface(self, interaction: discord.Interaction, mode: str) -> None:
        intent = talk.ShareFaceIntent(chat_of(interaction), ON_OFF.get(mode), interaction.user.display_name)
        await self._run(interaction, "/shareface", intent)

    async def subtitle(self, interaction: discord.Interaction, mode: str) -> None:
        """/자막 on|off: the sender's sentence as the 자막 of every meme in this server (or their DMs)."""
        await self._run(interaction, "/subtitle", talk.SubtitleIntent(ON_OFF.get(mode), chat_of(interaction)))

    async def setface(self, interaction: discord.Interaction, image: discord.Attachment, name: str | None) -> None:
        async def fetch() -> bytes:
            try:
                return await image.read()
            except (discord.HTTPException, aiohttp.ClientError) as err:
                log.warning("/setface: downloading the attachment failed: %s", err)
                raise ServiceError("discord.download_failed") from err

        intent = talk.PhotoIntent(fetch, name, check=lambda: check_attachment(image, self.conversation.limits))
        await self._run(interaction, "/setface", intent, defer="private")

    async def meme(self, interaction: discord.Interaction, text: str, face: str | None) -> None:
        """A sentence; the people it @mentions are friends for a group meme (in this server, with consent)."""
        friends = tuple(FriendRef(f"<@{uid}>", user_id=uid) for uid in dict.fromkeys(MENTION.findall(text)))
        intent = talk.TextIntent(MENTION.sub(" ", text), face or None, friends, chat_of(interaction))
        await self._run(interaction, "/meme", intent, defer="public")

    async def face_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete for /meme face: this person's saved faces."""
        names = await self.conversation.face_names(person_of(interaction))
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:25]

    async def next_meme(self, interaction: discord.Interaction, uid: int, request_id: str) -> None:
        # Acknowledged at once (the button shows it is working), then the same message is edited.
        await self._run(interaction, "다른 짤", talk.NextIntent(request_id), defer="update", owner=uid)

    async def choose(self, interaction: discord.Interaction, uid: int, kind: str, payload: str) -> None:
        """A choice's number (the same message becomes that meme with the person's face), or '골라보기' / a
        choice's '다른 짤' (the same message becomes the next memes to choose from)."""
        request_id, _, index = payload.partition(".")
        intent: talk.Intent = (talk.PickIntent(request_id, int(index)) if kind == "pick" and index.isdigit()
                               else talk.ChoicesIntent(request_id))
        await self._run(interaction, "골라보기", intent, defer="update", owner=uid)

    async def deleteface(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "/deleteface", talk.DeleteIntent())

    async def delete_choice(self, interaction: discord.Interaction, uid: int, confirm: bool) -> None:
        await self._run(interaction, "/deleteface button", talk.DeleteIntent(confirm), defer="update", owner=uid)

    async def help(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "/help", talk.HelpIntent())

    # answers and failures
    async def _run(self, interaction: discord.Interaction, what: str, intent: talk.Intent, defer: str = "",
                   owner: int | None = None) -> None:
        """Answers one interaction. `defer`: "" answers at once, "private"/"public" show a "thinking..."
        placeholder first, "update" edits the message whose button was pressed. What cannot work is refused
        before the defer, so the refusal is private; every failure is a private answer or a log line."""
        person = person_of(interaction)
        try:
            if owner is not None and interaction.user.id != owner:
                raise InputError("discord.not_yours")
            refused = self.conversation.refuse(person, intent)
            if refused is not None:
                await self.tell(interaction, refused.text, what)
                return
            if defer == "update":
                await interaction.response.defer()
            elif defer:
                await interaction.response.defer(ephemeral=defer == "private", thinking=True)
                interaction.extras[PLACEHOLDER] = defer == "public"
            reply = await self.conversation.handle(person, intent)
            if reply.error is not None:
                await self.tell(interaction, reply.text, what)
            elif defer == "update":
                await interaction.edit_original_response(**self._message(person, reply, edit=True))
            elif defer:
                await interaction.followup.send(**self._message(person, reply), ephemeral=reply.private)
                interaction.extras[PLACEHOLDER] = False
            else:
                await interaction.response.send_message(**self._message(person, reply), ephemeral=reply.private)
        except discord.DiscordException as err:
            log_discord_failure(err, what)
            if isinstance(err, discord.Forbidden):
                await self.tell(interaction, render("discord.cannot_post", person.lang), what)
        except Exception as err:
            await self.tell(interaction, self.conversation.failure(person, err).text, what)

    @staticmethod
    def _message(person: Person, reply: talk.Reply, edit: bool = False) -> dict[str, Any]:
        """A reply as a message's content, file and buttons (as an edit: attachments, and no view = none)."""
        items = [ActionButton.of(int(person.user_id), button) for button in reply.buttons]
        message: dict[str, Any] = {"content": reply.text}
        if items or edit:
            message["view"] = _view(*items) if items else None
        files = [discord.File(io.BytesIO(c.image), f"choice{n}.jpg") for n, c in enumerate(reply.choices, 1)]
        if reply.image is not None:
            files = [discord.File(io.BytesIO(reply.image), "face.jpg" if reply.private else "meme.jpg")]
        if files or edit:  # an edit to a text (nothing fits) drops the pictures the message had
            message.update({"attachments": files} if edit else {"files": files})
        return message

    async def tell(self, interaction: discord.Interaction, text: str, what: str) -> None:
        """A private message to the person who interacted, whatever state the interaction is in."""
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(text, ephemeral=True)
                return
            if interaction.extras.pop(PLACEHOLDER, False):
                # the first followup would replace the public placeholder and be public too
                await interaction.delete_original_response()
            await interaction.followup.send(text, ephemeral=True)
        except discord.DiscordException as err:
            log_discord_failure(err, f"{what} (telling the person)")


def build_tree(client: discord.Client, handlers: Handlers) -> app_commands.CommandTree[discord.Client]:
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    @tree.command(name=_name("discord.cmd.setface"), description=_desc("discord.cmd.setface"))
    @app_commands.rename(image=_name("discord.opt.image"), name=_name("discord.opt.name"))
    @app_commands.describe(image=_desc("discord.opt.image"), name=_desc("discord.opt.name"))
    async def setface(interaction: discord.Interaction, image: discord.Attachment, name: str | None = None) -> None:
        await handlers.setface(interaction, image, name)

    @tree.command(name=_name("discord.cmd.meme"), description=_desc("discord.cmd.meme"))
    @app_commands.rename(text=_name("discord.opt.text"), face=_name("discord.opt.face"))
    @app_commands.describe(text=_desc("discord.opt.text"), face=_desc("discord.opt.face"))
    async def meme(interaction: discord.Interaction, text: str, face: str | None = None) -> None:
        await handlers.meme(interaction, text, face)

    @meme.autocomplete("face")
    async def meme_face(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await handlers.face_names(interaction, current)

    @tree.command(name=_name("discord.cmd.swap"), description=_desc("discord.cmd.swap"))
    @app_commands.rename(image=_name("discord.opt.image"), face=_name("discord.opt.face"),
                         target=_name("discord.opt.target"))
    @app_commands.describe(image=_desc("discord.opt.picture"), face=_desc("discord.opt.face"),
                           target=_desc("discord.opt.target"))
    async def swap(interaction: discord.Interaction, image: discord.Attachment, face: str | None = None,
                   target: str | None = None) -> None:
        await handlers.swap(interaction, image, face, target)

    @swap.autocomplete("face")
    async def swap_face(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await handlers.face_names(interaction, current)

    async def swap_here(interaction: discord.Interaction, message: discord.Message) -> None:
        await handlers.swap_message(interaction, message)

    tree.add_command(app_commands.ContextMenu(name=_name("discord.ctx.swap"), callback=swap_here))

    @tree.command(name=_name("discord.cmd.faces"), description=_desc("discord.cmd.faces"))
    async def faces(interaction: discord.Interaction) -> None:
        await handlers.faces(interaction)

    def on_off(key: str, handle: Callable[[discord.Interaction, str], Awaitable[None]]) -> None:
        """A command whose one option is on or off: /얼굴공유 (shareface), /자막 (subtitle)."""

        @tree.command(name=_name(key), description=_desc(key))
        @app_commands.rename(mode=_name("discord.opt.mode"))
        @app_commands.describe(mode=_desc("discord.opt.mode"))
        @app_commands.choices(mode=ON_OFF_CHOICES)
        async def command(interaction: discord.Interaction, mode: str) -> None:
            await handle(interaction, mode)

    on_off("discord.cmd.shareface", handlers.shareface)
    on_off("discord.cmd.subtitle", handlers.subtitle)

    @tree.command(name=_name("discord.cmd.deleteface"), description=_desc("discord.cmd.deleteface"))
    async def deleteface(interaction: discord.Interaction) -> None:
        await handlers.deleteface(interaction)

    @tree.command(name=_name("discord.cmd.help"), description=_desc("discord.cmd.help"))
    async def help_(interaction: discord.Interaction) -> None:
        await handlers.help(interaction)

    @tree.error
    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        # Only what the handlers did not catch: a command Discord knows and we do not (stale sync), bad data.
        log.error("command %s failed: %r", interaction.data and interaction.data.get("name"), error)
        await handlers.tell(interaction, render("internal", person_of(interaction).lang), "command error")

    return tree
