"""The catalog studio's use case (the web page's /studio, which no chat platform has): the catalog being served,
what the workers find in it (faces, whether a sample face swaps in, `fffusion catalog check`'s report), and its
edits, written one at a time and served at once. An adapter reaches it through the chat layer
(core/service/chat.py), never the service's catalog methods or core/catalog's writers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from core.catalog import edit
from core.catalog.catalog import Catalog
from core.catalog.check import CheckReport
from core.compute.contract import MemeFaces
from core.resources import sample_face
from core.service.service import MemeService

log = logging.getLogger(__name__)


class Studio:
    def __init__(self, service: MemeService) -> None:
        self.service = service
        self._edit_lock = asyncio.Lock()  # one catalog write at a time
        self._sample: bytes | bool | None = False  # False: not looked for yet
        self._inspected: tuple[str, list[MemeFaces]] | None = None  # per catalog version
        self._checked: tuple[str, CheckReport] | None = None

    @property
    def catalog(self) -> Catalog:
        return self.service.catalog

    @property
    def version(self) -> str:
        return self.service.catalog_version

    @property
    def catalog_dir(self) -> Path:
        return Path(self.service.config.catalog_dir)

    async def rank(self, sentence: str, top: int) -> list[tuple[str, str, float]]:
        """(meme id, caption, score) of the best memes for a sentence."""
        return await self.service.rank(sentence, top)

    async def inspect(self) -> tuple[str, list[MemeFaces]]:
        """The catalog version and every meme's faces, with whether the bundled sample face swaps in (asked of
        the workers once per catalog version)."""
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

    async def faces_found(self, meme_id: str) -> int:
        """How many faces the workers found in a meme's picture (0 for an unknown meme)."""
        _, inspected = await self.inspect()
        return next((len(f.boxes) for f in inspected if f.meme_id == meme_id), 0)

    async def check(self) -> CheckReport:
        """`fffusion catalog check`'s report on the catalog being served, once per catalog version."""
        await self.service.follow_catalog()
        version = self.service.catalog_version
        if self._checked is None or self._checked[0] != version:
            self._checked = (version, await self.service.check_catalog())
        return self._checked[1]

    async def _edited(self, change: Callable[..., object], *args: object) -> None:
        async with self._edit_lock:
            await asyncio.to_thread(change, self.catalog_dir, *args)
            await self.service.reload_catalog()

    async def update(self, meme_id: str, caption: str, examples: list[str], tags: list[str],
                     faces: list[int], subtitle: list[str]) -> None:
        """`subtitle`: the 자막 as the studio's text box holds it (edit.subtitle_text's lines)."""
        lines = edit.parse_subtitle_text(subtitle)
        await self._edited(edit.update_meme, meme_id, caption, examples, tags, faces, lines)

    async def delete(self, meme_id: str) -> None:
        await self._edited(edit.delete_meme, meme_id)

    async def add(self, items: list[edit.NewMeme]) -> list[str]:
        """The ids of the memes added, in the catalog's order."""
        before = set(self.catalog.by_id)
        await self._edited(edit.add_memes, items, self.service.limits)
        return [m.id for m in self.catalog.memes if m.id not in before]
