"""What happens in a conversation, once for every platform. An adapter turns a platform event into a typed
intent, calls `Conversation.handle`, and turns the typed `Reply` into its platform's API calls; it keeps only
what is truly its platform's own (Discord's defer rules, Telegram's inline mode, Kakao's 5-second callback).

Texts a platform words its own way live with its adapter (adapters/<platform>/texts.py) as "<platform>.<name>"
(e.g. "kakao.face_saved", which names Kakao's commands); `Conversation` picks the person's platform's text.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.errors import Failure, FffusionError, InputError, explain, failure_of
from core.images import check_size
from core.limits import Limits
from core.messages import TEXTS, render
from core.service.friends import FriendRef, find_friends, group_meme, share_face
from core.service.pictures import check_target, swap_picture
from core.service.service import DEFAULT_FACE, MemeResult, MemeService, Offer, Pending, Person
from core.service.store import Uploads as UploadIds
from core.text import clean_sentence

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- intents
@dataclass(frozen=True)
class TextIntent:
    """A sentence: the meme that fits it."""

    text: str
    face: str | None = None  # one of the person's saved faces; None = their default
    #: people the message names; with any, the meme is a group meme with those who allowed it in this chat
    friends: tuple[FriendRef, ...] = ()
    chat_id: str | None = None  # the group chat or server the message came from; None = a private chat


@dataclass(frozen=True)
class PhotoIntent:
    """A photo of the person's face to register. The photo is fetched only once the cheap checks passed."""

    fetch: Callable[[], Awaitable[bytes]]
    name: str | None = None
    #: refuses from what the platform reports (size, type) before anything is downloaded; raises InputError
    check: Callable[[], None] | None = None


@dataclass(frozen=True)
class NextIntent:
    """'다른 짤': the next candidate of a request."""

    request_id: str


@dataclass(frozen=True)
class ChoicesIntent:
    """A choice of a request's next memes: "골라보기" on a meme, "다른 짤" on a choice."""

    request_id: str


@dataclass(frozen=True)
class PickIntent:
    """The meme the person picked from a choice: its place in the request's candidates (Choice.index)."""

    request_id: str
    index: int


@dataclass(frozen=True)
class DeleteIntent:
    """Forget the person: None asks for a confirmation, True deletes everything of theirs, False cancels."""

    confirmed: bool | None = None


@dataclass(frozen=True)
class SwapPictureIntent:
    """The person's face onto a picture someone posted. Fetched only once the cheap checks passed."""

    fetch: Callable[[], Awaitable[bytes]]
    size: int | None = None  # the picture's size as the platform reports it, before the download
    #: refuses from what else the platform reports (type, pixels, where it is) before the download; InputError
    check: Callable[[], None] | None = None
    face: str | None = None  # one of the person's saved faces; None = their default
    target: str | None = None  # all | largest | a face number (0 = largest); None = largest


@dataclass(frozen=True)
class ShareFaceIntent:
    """Let friends in this chat put the person's face in group memes (on), or stop it (off)."""

    chat_id: str | None  # None = a private chat, where there is no one to share with
    on: bool | None  # None: the person said neither on nor off
    name: str  # how the chat knows the person: named in the captions of group memes with their face
    handle: str | None = None  # their @name, where friends mention people by it (Telegram)


@dataclass(frozen=True)
class SubtitleIntent:
    """"내 문장으로 자막" for every meme asked in this chat: on, off, or None to hear whether it is on."""

    on: bool | None
    chat_id: str | None = None  # the group chat or server; None = a private chat (the setting is the person's)


@dataclass(frozen=True)
class FacesIntent:
    """The names of the person's saved faces, and which is the default."""


@dataclass(frozen=True)
class HelpIntent:
    bot_name: str = ""  # how the platform's people address the bot, where the help text names it


Intent = (TextIntent | PhotoIntent | NextIntent | DeleteIntent | HelpIntent | SwapPictureIntent | ShareFaceIntent
          | FacesIntent | SubtitleIntent | ChoicesIntent | PickIntent)


# ------------------------------------------------------------------------------------------- replies
class Action(StrEnum):
    NEXT = "next"
    CHOICES = "choices"  # a choice of the request's next memes
    PICK = "pick"  # one meme of a choice
    DELETE_CONFIRM = "delete_yes"
    DELETE_CANCEL = "delete_no"


@dataclass(frozen=True)
class Button:
    action: Action
    label: str  # in the person's language
    request_id: str = ""  # NEXT, CHOICES, PICK: the request it continues
    index: int = -1  # PICK: the meme's place in the request's candidates
    enabled: bool = True  # a platform that shows a disabled button (Discord) shows it; the others leave it out


@dataclass(frozen=True)
class Choice:
    """One meme of a choice, as it is; picking it (its PICK button) brings it with the person's face."""

    meme_id: str
    caption: str
    image: bytes  # JPEG
    result_key: str
    index: int  # what its PICK button names


@dataclass(frozen=True)
class Reply:
    """What the bot answers, in two readings: `lines` for a chat message, and the same as fields (`headline`,
    `notices`, `has_next`, `failure`) for a platform that lays a reply out itself (the web page)."""

    lines: tuple[str, ...] = ()  # already in the person's language; an empty line separates paragraphs
    image: bytes | None = None  # JPEG
    title: str = ""  # the image in words: the meme's caption or the face's name
    buttons: tuple[Button, ...] = ()
    private: bool = False  # only the person should see it, where the platform can tell
    result_key: str | None = None  # the image's key for reusing a platform's upload of it (Uploads)
    request_id: str | None = None  # the request a meme belongs to
    error: str | None = None  # the message key of the failure this reply tells about
    failure: Failure | None = None  # its kind
    #: a choice of memes (then no `image`): the buttons hold one PICK per choice, in the same order
    choices: tuple[Choice, ...] = ()
    headline: str = ""  # the first line: a meme's caption, what a choice is, what was done
    notices: tuple[str, ...] = ()  # the lines after the headline that tell something (no blank ones)
    has_next: bool = False  # the request has memes not shown yet ("다른 짤", "골라보기")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# ------------------------------------------------------------------------------------------- uploads
class Uploads:
    """The one upload-id cache: the id a platform gave a result image it has received (a Telegram file id, a
    media store id), so the same image is uploaded once per platform."""

    def __init__(self, store: UploadIds, forget: list[Callable[[list[tuple[str, str]]], Awaitable[None]]]) -> None:
        self.store = store
        self.forget = forget  # deletes platform copies (MemeService.forget_uploads)

    async def get(self, platform: str, result_key: str) -> str | None:
        return await self.store.uploaded(platform, result_key)

    async def remember(self, platform: str, result_key: str, upload_id: str) -> None:
        if not await self.store.remember_upload(platform, result_key, upload_id):
            # its person was deleted while it was sent: the copy goes too, so nothing of theirs is served
            for forget in self.forget:
                await forget([(platform, upload_id)])

    async def send(
        self,
        platform: str,
        result_key: str,
        reuse: Callable[[str], Awaitable[bool]],
        upload: Callable[[], Awaitable[str | None]],
    ) -> str | None:
        """Sends by the remembered id when `reuse` accepts it, else `upload`s and remembers the new id.
        Returns the id used (None when the upload gave none)."""
        known = await self.get(platform, result_key)
        if known is not None and await reuse(known):
            return known
        fresh = await upload()
        if fresh is not None:
            await self.remember(platform, result_key, fresh)
        return fresh


# ------------------------------------------------------------------------------------------- conversation
class Conversation:
    def __init__(self, service: MemeService) -> None:
        self.service = service
        self.uploads = Uploads(service.store, service.forget_uploads)

    @property
    def limits(self) -> Limits:
        return self.service.limits

    async def handle(self, person: Person, intent: Intent) -> Reply:
        """The reply to an intent. Never raises for what a person should hear about: every failure is a reply."""
        try:
            return await self._handle(person, intent)
        except Exception as err:
            return self.failure(person, err)

    def refuse(self, person: Person, intent: Intent) -> Reply | None:
        """The reply at once to an intent that cannot work, found without any slow work; None if it may."""
        try:
            if isinstance(intent, TextIntent):
                clean_sentence(intent.text, self.limits)
            elif isinstance(intent, PhotoIntent) and intent.check is not None:
                intent.check()
            elif isinstance(intent, SwapPictureIntent):
                check_target(intent.target)
                if intent.size is not None:
                    check_size(intent.size, self.limits)
                if intent.check is not None:
                    intent.check()
            elif isinstance(intent, ShareFaceIntent) and (intent.chat_id is None or intent.on is None):
                raise InputError("share.needs_chat" if intent.chat_id is None else "share.usage")
        except FffusionError as err:
            return self.failure(person, err)
        return None

    def failure(self, person: Person, err: BaseException) -> Reply:
        """The one mapping from a failure to a reply (core/errors.explain)."""
        key = getattr(err, "key", "internal")
        own = f"{person.platform}.{key}"  # the platform's own wording ("discord.share.usage"), as in say()
        text = render(own, person.lang, **err.params) if own in TEXTS and isinstance(err, FffusionError) else (
            explain(err, person.lang))
        return Reply((text,), private=True, error=key, failure=failure_of(err), headline=text)

    def say(self, person: Person, name: str, /, **params: Any) -> str:
        """The platform's own wording of a text when it has one ("kakao.help"), else the common one."""
        key = f"{person.platform}.{name}"
        return render(key if key in TEXTS else name, person.lang, **params)

    async def _handle(self, person: Person, intent: Intent) -> Reply:
        refused = self.refuse(person, intent)
        if refused is not None:
            return refused
        if isinstance(intent, TextIntent) and intent.friends:
            return await self._group(person, intent)
        if isinstance(intent, TextIntent):
            own = await self.service.chat_subtitle(person, intent.chat_id)
            return self._answer(person, await self.service.answer(person, intent.text, intent.face, own))
        if isinstance(intent, SubtitleIntent):
            return await self._subtitle(person, intent)
        if isinstance(intent, ChoicesIntent):
            return self._offer(person, await self.service.choices(person, intent.request_id))
        if isinstance(intent, PickIntent):
            return self._meme(person, await self.service.pick(person, intent.request_id, intent.index))
        if isinstance(intent, SwapPictureIntent):
            return await self._picture(person, intent)
        if isinstance(intent, FacesIntent):
            return await self._faces(person)
        if isinstance(intent, ShareFaceIntent):
            key = await share_face(self.service, person, intent.chat_id, bool(intent.on), intent.name, intent.handle)
            return Reply((self.say(person, key),), private=True)
        if isinstance(intent, NextIntent):
            return self._meme(person, await self.service.next_meme(person, intent.request_id))
        if isinstance(intent, PhotoIntent):
            face = await self.service.register_face(person, await intent.fetch(), intent.name)
            await self.service.set_lang(person)
            notices = tuple(self.say(person, k) for k in face.notices)
            saved = self.say(person, "face_saved", name=face.name)
            return Reply((saved, *notices), image=face.crop_jpeg, title=face.name, private=True,
                         result_key=face.result_key, headline=saved, notices=notices)
        if isinstance(intent, DeleteIntent):
            return await self._delete(person, intent.confirmed)
        await self.service.set_lang(person)
        return Reply((self.say(person, "help", bot=intent.bot_name),), private=True)

    def _answer(self, person: Person, answer: MemeResult | Offer) -> Reply:
        return self._offer(person, answer) if isinstance(answer, Offer) else self._meme(person, answer)

    def _meme(self, person: Person, result: MemeResult) -> Reply:
        lines = (result.caption, "", self.say(person, result.notice)) if result.notice else (result.caption,)
        next_ = Button(Action.NEXT, self.say(person, "meme.next_label"), result.request_id, enabled=result.has_next)
        choose = Button(Action.CHOICES, self.say(person, "meme.choices_label"), result.request_id,
                        enabled=result.has_next)
        return Reply(lines, image=result.image, title=result.caption, buttons=(next_, choose),
                     result_key=result.result_key, request_id=result.request_id, headline=result.caption,
                     notices=lines[2:], has_next=result.has_next)

    def _offer(self, person: Person, offer: Offer) -> Reply:
        """A choice: the memes as they are, one PICK button each, and "다른 짤" for the next ones. With nothing
        that fits, it says so kindly and offers the nearest."""
        if not offer.memes:
            nothing = self.say(person, "meme.nothing_fits_none")
            return Reply((nothing,), request_id=offer.request_id, headline=nothing)
        intro = self.say(person, "meme.nothing_fits" if offer.decision == "nothing" else "meme.choose")
        lines = (intro, *(render("meme.choice_line", person.lang, n=n, caption=m.caption)
                          for n, m in enumerate(offer.memes, 1)))
        picks = tuple(Button(Action.PICK, render("meme.pick_label", person.lang, n=n), offer.request_id, m.index)
                      for n, m in enumerate(offer.memes, 1))
        more = Button(Action.CHOICES, self.say(person, "meme.next_label"), offer.request_id, enabled=offer.has_next)
        choices = tuple(Choice(m.meme_id, m.caption, m.image, m.result_key, m.index) for m in offer.memes)
        return Reply(lines, buttons=(*picks, more), request_id=offer.request_id, choices=choices, headline=intro,
                     has_next=offer.has_next)

    async def _faces(self, person: Person) -> Reply:
        names = await self.service.list_faces(person)
        if not names:
            return Reply((self.say(person, "faces.none"),), private=True)
        default = await self.service.default_face(person) or names[0]
        shown = [render("faces.unnamed", person.lang) if name == DEFAULT_FACE else name for name in names]
        shown = [render("faces.default_mark", person.lang, name=s) if n == default else s
                 for n, s in zip(names, shown, strict=True)]
        text = render("faces.list", person.lang, count=len(names), limit=self.limits.max_faces_per_person,
                      names=", ".join(shown))
        return Reply((text,), private=True)

    async def _picture(self, person: Person, intent: SwapPictureIntent) -> Reply:
        result = await swap_picture(self.service, person, intent.fetch, intent.size, intent.face, intent.target)
        lines = (render("picture.swapped", person.lang, count=result.faces, swapped=result.swapped),
                 *(self.say(person, key) for key in result.notices))
        return Reply(lines, image=result.image, result_key=result.result_key)

    async def _group(self, person: Person, intent: TextIntent) -> Reply:
        """A meme with the named friends who allowed it in this chat; the others are named as not in it, in
        the same words whether or not they have a face at all."""
        friends = await find_friends(self.service, person, intent.chat_id, list(intent.friends))
        refused = [self.say(person, "group.not_shared", names=", ".join(friends.refused))] if friends.refused else []
        own = await self.service.chat_subtitle(person, intent.chat_id)
        if not friends.allowed:
            alone = self._meme(person, await self.service.make_meme(person, intent.text, intent.face, own))
            return dataclasses.replace(alone, lines=(*alone.lines, "", *refused)) if refused else alone
        group = await group_meme(self.service, person, intent.text, friends.allowed, intent.face, own)
        told = (("group.with", group.names), ("group.no_room", group.left_out), ("group.not_placed", group.not_placed))
        notes = [render(key, person.lang, names=", ".join(names)) for key, names in told if names]
        return Reply((group.caption, "", *notes, *refused), image=group.image, title=group.caption)

    async def _subtitle(self, person: Person, intent: SubtitleIntent) -> Reply:
        if intent.on is not None:
            await self.service.set_chat_subtitle(person, intent.chat_id, intent.on)
        on = intent.on if intent.on is not None else await self.service.chat_subtitle(person, intent.chat_id)
        return Reply((self.say(person, "chat_subtitle.on" if on else "chat_subtitle.off"),), private=True)

    async def top(self, person: Person, text: str, k: int) -> list[Reply]:
        """The top k memes for a sentence at once, each with the person's face (Telegram's inline results).
        Raises what `handle` would reply: the platform answers the whole batch its own way."""
        return [self._meme(person, result) for result in await self.service.top(person, text, k)]

    # what a platform asks about a person outside a message
    @property
    def pending(self) -> Pending:
        """What a person was asked to send next in a chat (Telegram's "/setface", then the photo)."""
        return self.service.pending

    async def face_names(self, person: Person) -> list[str]:
        return await self.service.list_faces(person)

    async def own_subtitle(self, person: Person, chat_id: str | None = None) -> bool:
        """Whether the chat (None: the person's private one) draws the sentence as every meme's 자막."""
        return await self.service.chat_subtitle(person, chat_id)

    async def last_request(self, person: Person) -> str | None:
        """The person's request shown last, from the store (any instance knows it): a bare "다른 짤"."""
        return await self.service.last_request(person)

    async def stamp(self, person: Person) -> str | None:
        """Changes whenever what the person's memes carry may have (MemeService.stamp): keys a platform's own
        cache of answers."""
        return await self.service.stamp(person)

    async def sweep(self, platform: str, ttl_s: float) -> int:
        """Deletes the platform's people whose newest face (or first visit) is older than ttl_s: a platform
        whose people are anonymous visitors. Returns how many went."""
        stale = await self.service.stale_people(platform, ttl_s)
        for user_id in stale:
            await self.service.delete_person(Person(platform, user_id))
        return len(stale)

    async def _delete(self, person: Person, confirmed: bool | None) -> Reply:
        if confirmed is None:
            buttons = (Button(Action.DELETE_CONFIRM, self.say(person, "delete.yes")),
                       Button(Action.DELETE_CANCEL, self.say(person, "delete.no")))
            return Reply((self.say(person, "delete.confirm"),), buttons=buttons, private=True)
        if not confirmed:
            return Reply((self.say(person, "delete.cancelled"),), private=True)
        deleted = await self.service.delete_person(person)
        return Reply((self.say(person, "delete.done" if deleted else "delete.nothing"),), private=True)
