"""The web page's one door into the core: every call the pages make to the service goes through here, so the
page moves to another service API (the conversation layer) by changing this file alone."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from core.catalog import edit
from core.catalog.catalog import Catalog
from core.errors import InputError
from core.messages import render
from core.resources import sample_face
from core.service.media import MediaStore
from core.service.service import MemeResult, MemeService, Person
from core.service.worker import MemeFaces
from core.text import clean_sentence

log = logging.getLogger(__name__)

PLATFORM = "web"


@dataclass(frozen=True)
class Shown:
    """A meme as the page shows it."""

    url: str
    caption: str
    notice: str
    request_id: str
    has_next: bool
    face_saved: bool = False


class WebPort:
    def __init__(self, service: MemeService, media: MediaStore) -> None:
        self.service = service
        self.media = media
        self.limits = service.limits
        self._edit_lock = asyncio.Lock()  # one catalog write at a time
        self._sample: bytes | bool | None = False  # False: not looked for yet
        self._inspected: tuple[str, list[MemeFaces]] | None = None  # per catalog version

    @staticmethod
    def person(user_id: str, lang: str) -> Person:
        return Person(PLATFORM, user_id, lang)

    async def _shown(self, person: Person, result: MemeResult, face_saved: bool = False) -> Shown:
        media_id = await self.media.publish(self.service, result.result_key, result.image)
        notice = render(result.notice, person.lang) if result.notice else ""
        return Shown(f"/media/{media_id}.jpg", result.caption, notice, result.request_id, result.has_next,
                     face_saved)

    # the try page
    async def has_face(self, person: Person) -> bool:
        return bool(await self.service.list_faces(person))

    async def make(self, person: Person, text: str, face: bytes | None) -> Shown:
        clean_sentence(text, self.limits)  # a bad sentence is refused before the photo is worked on
        if face is not None:
            await self.service.register_face(person, face)
        return await self._shown(person, await self.service.make_meme(person, text), face is not None)

    async def next(self, person: Person, request_id: str) -> Shown:
        await self.service.feedback(person, request_id, kept=False)
        return await self._shown(person, await self.service.next_meme(person, request_id))

    async def forget(self, person: Person) -> bool:
        return await self.service.delete_person(person)

    async def sweep(self, ttl_s: float) -> int:
        """Deletes the web's people whose face is older than ttl_s; returns how many went."""
        stale = await self.service.stale_people(PLATFORM, ttl_s)
        for user_id in stale:
            await self.service.delete_person(Person(PLATFORM, user_id))
        return len(stale)

    # the studio
    @property
    def catalog(self) -> Catalog:
        return self.service.catalog

    @property
    def catalog_dir(self) -> Path:
        return Path(self.service.config.catalog_dir)

    async def rank(self, sentence: str, top: int) -> list[tuple[str, str, float]]:
        return await self.service.rank(sentence, top)

    async def inspect(self) -> tuple[str, list[MemeFaces]]:
        if self._sample is False:
            try:
                self._sample = await asyncio.to_thread(sample_face)
            except (ModuleNotFoundError, OSError):
                log.info("no sample face installed (scikit-image): the studio shows no swap check")
                self._sample = None
        assert not isinstance(self._sample, bool)
        await self.service.follow_catalog()
        if self._inspected is None or self._inspected[0] != self.service.catalog_version:
            self._inspected = await self.service.inspect_catalog(self._sample)
        return self._inspected

    async def _edited(self, change: object, *args: object) -> None:
        async with self._edit_lock:
            await asyncio.to_thread(change, self.catalog_dir, *args)  # type: ignore[arg-type]
            await self.service.reload_catalog()

    async def update(self, meme_id: str, caption: str, examples: list[str], tags: list[str],
                     faces: list[int]) -> None:
        await self._edited(edit.update_meme, meme_id, caption, examples, tags, faces)

    async def delete(self, meme_id: str) -> None:
        await self._edited(edit.delete_meme, meme_id)

    async def add(self, items: list[edit.NewMeme]) -> list[str]:
        if not items:
            raise InputError("studio.no_images")
        before = set(self.catalog.by_id)
        await self._edited(edit.add_memes, items, self.limits)
        return [m.id for m in self.catalog.memes if m.id not in before]
