"""The web page's one door into the core: the try page speaks to the conversation layer like every chat
platform (typed intents in, a typed Reply out, one failure->reply mapping); the studio, which no chat platform
has, speaks to the chat layer's `Studio`. Every call the pages make goes through here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.errors import Failure, InputError
from core.images import check_size
from core.service import chat as talk
from core.service.chat import Media, Person

PLATFORM = "web"


@dataclass(frozen=True)
class Shown:
    """A reply as the try page shows it: a meme (url, caption, notice...), or `error` (a message key) with its
    text in `notice`."""

    url: str = ""
    caption: str = ""
    notice: str = ""
    request_id: str = ""
    has_next: bool = False
    face_saved: bool = False
    error: str | None = None
    failure: Failure | None = None  # the kind of the error
    #: a choice instead of a meme: (picture url, caption, what its pick names); `caption` then says why
    choices: tuple[tuple[str, str, int], ...] = ()

    @property
    def status(self) -> int:
        """The HTTP status of a failure: 429 rate-limited, 503 the service cannot now, 400 bad input."""
        return 200 if self.failure is None else STATUS.get(self.failure, 400)


STATUS = {Failure.LIMITED: 429, Failure.BUSY: 503, Failure.UNAVAILABLE: 503}


class WebPort:
    def __init__(self, conversation: talk.Conversation, studio: talk.Studio, media: Media) -> None:
        self.conversation = conversation
        self.studio = studio
        self.media = media
        self.limits = conversation.limits

    @staticmethod
    def person(user_id: str, lang: str) -> Person:
        return Person(PLATFORM, user_id, lang)

    @staticmethod
    def _failed(reply: talk.Reply) -> Shown:
        return Shown(notice=reply.text, error=reply.error, failure=reply.failure)

    async def _shown(self, reply: talk.Reply, notices: tuple[str, ...] = (), face_saved: bool = False) -> Shown:
        if reply.error is not None:
            return self._failed(reply)
        if reply.choices or reply.image is None:  # a choice, or nothing fits at all (then no pictures)
            urls = await asyncio.gather(*(self.media.publish(self.conversation.uploads, c.result_key, c.image)
                                          for c in reply.choices))
            choices = tuple((f"/media/{u}.jpg", c.caption, c.index) for u, c in zip(urls, reply.choices, strict=True))
            return Shown(caption=reply.headline, notice="\n".join(notices), request_id=reply.request_id or "",
                         has_next=reply.has_next, face_saved=face_saved, choices=choices)
        assert reply.request_id is not None
        media_id = await self.media.publish(self.conversation.uploads, reply.result_key, reply.image)
        notice = "\n".join((*notices, *reply.notices))
        return Shown(f"/media/{media_id}.jpg", reply.headline, notice, reply.request_id, reply.has_next, face_saved)

    # the try page
    async def has_face(self, person: Person) -> bool:
        return bool(await self.conversation.face_names(person))

    async def own_subtitle(self, person: Person) -> bool:
        """Whether the visitor asked for their sentence as every meme's 자막 (the checkbox, remembered)."""
        return await self.conversation.own_subtitle(person)

    async def make(self, person: Person, text: str, face: bytes | None, subtitle: bool = False) -> Shown:
        """A face photo (optional: the saved one is used) and a sentence -> the meme; `subtitle`: the checkbox
        "내 문장으로 자막", remembered for the visitor's next memes (and deleted with them). A bad sentence is
        refused before the photo is worked on."""
        sentence = talk.TextIntent(text)
        refused = self.conversation.refuse(person, sentence)
        if refused is not None:
            return self._failed(refused)
        setting = await self.conversation.handle(person, talk.SubtitleIntent(subtitle))
        if setting.error is not None:
            return self._failed(setting)
        notices: tuple[str, ...] = ()
        if face is not None:
            async def photo() -> bytes:
                return face

            saved = await self.conversation.handle(
                person, talk.PhotoIntent(photo, check=lambda: check_size(len(face), self.limits)))
            if saved.error is not None:
                return self._failed(saved)
            notices = saved.notices  # what "saved" does not say: which face was used
        return await self._shown(await self.conversation.handle(person, sentence), notices, face is not None)

    async def next(self, person: Person, request_id: str) -> Shown:
        return await self._shown(await self.conversation.handle(person, talk.NextIntent(request_id)))

    async def choices(self, person: Person, request_id: str) -> Shown:
        return await self._shown(await self.conversation.handle(person, talk.ChoicesIntent(request_id)))

    async def pick(self, person: Person, request_id: str, index: str) -> Shown:
        if not index.isdigit():
            raise InputError("meme.request_unknown")
        return await self._shown(await self.conversation.handle(person, talk.PickIntent(request_id, int(index))))

    async def forget(self, person: Person) -> str:
        """Deletes everything of the person at once; the text that says so."""
        return (await self.conversation.handle(person, talk.DeleteIntent(confirmed=True))).text

    async def sweep(self, ttl_s: float) -> int:
        """Deletes the web's people whose face is older than ttl_s; returns how many went."""
        return await self.conversation.sweep(PLATFORM, ttl_s)

    # the studio
    async def update(self, meme_id: str, caption: str, examples: list[str], tags: list[str],
                     faces: list[int], subtitle: list[str]) -> None:
        """Face numbers must name faces found in the picture: a number past them would be ignored in silence."""
        found = await self.studio.faces_found(meme_id)
        beyond = [n for n in faces if n >= found]
        if beyond and not found:
            raise InputError("studio.no_faces_to_pick")
        if beyond:
            raise InputError("studio.face_not_found", count=found, last=found - 1, value=", ".join(map(str, faces)))
        await self.studio.update(meme_id, caption, examples, tags, faces, subtitle)

    async def add(self, items: list[talk.NewMeme]) -> list[str]:
        if not items:
            raise InputError("studio.no_images")
        return await self.studio.add(items)
