"""Result images served by URL (KakaoTalk shows images only by URL; any platform may use the same files).

Files are `<root>/<id>.jpg` with a random 128-bit id, so a URL can be neither guessed nor walked; they
live for `max_age_s` and the whole folder is kept under `max_bytes` by evicting the oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

SUFFIX = ".jpg"
#: the Uploads namespace (core.service.conversation) of result images served from here: result_key -> media id
UPLOAD_PLATFORM = "media"
_TMP_PREFIX = ".tmp-"
# secrets.token_urlsafe(16): 16 random bytes -> exactly 22 url-safe base64 characters, no padding
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


class Uploads(Protocol):
    """The upload-id cache (core.service.conversation.Uploads)."""

    async def send(
        self, platform: str, result_key: str, reuse: Callable[[str], Awaitable[bool]],
        upload: Callable[[], Awaitable[str | None]],
    ) -> str | None: ...


@dataclass(frozen=True)
class SweepReport:
    removed: int
    files: int
    bytes: int


class Media(Protocol):
    """Where result images are served from: `MediaStore` (files, one machine) or
    core.service.pgmedia.PostgresMediaStore (shared by every instance)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def put(self, jpeg: bytes) -> str: ...
    async def publish(self, uploads: Uploads, result_key: str | None, jpeg: bytes) -> str: ...
    async def forget(self, uploads: list[tuple[str, str]]) -> None: ...
    async def alive(self, media_id: str) -> bool: ...
    async def get(self, media_id: str) -> Path | bytes | None: ...


class Sweeping:
    """Lifetime and size cap of a media store: swept at start, every `sweep_every_s`, and at once when puts
    since the last sweep pass `max_bytes`. Subclasses store the bytes (files here, PostgreSQL in pgmedia.py)."""

    def __init__(self, max_age_s: float, max_bytes: int, sweep_every_s: float) -> None:
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.sweep_every_s = sweep_every_s
        self._bytes = 0  # running estimate between sweeps; a put that crosses max_bytes triggers one
        self._task: asyncio.Task[None] | None = None
        self._sweeping: asyncio.Task[SweepReport] | None = None

    @staticmethod
    def valid_id(media_id: str) -> bool:
        return bool(_ID_RE.fullmatch(media_id))

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(16)

    async def start(self) -> None:
        """Sweep once (expired images from a previous run) and keep sweeping in the background."""
        await self._sweep_logged()
        self._task = asyncio.create_task(self._sweep_forever(), name="media-sweep")

    async def close(self) -> None:
        for task in (self._task, self._sweeping):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._sweeping = None

    def _added(self, size: int) -> None:
        self._bytes += size
        if self._bytes > self.max_bytes and (self._sweeping is None or self._sweeping.done()):
            self._sweeping = asyncio.create_task(self._sweep_logged(), name="media-evict")

    async def put(self, jpeg: bytes) -> str:
        raise NotImplementedError

    async def alive(self, media_id: str) -> bool:
        raise NotImplementedError

    async def publish(self, uploads: Uploads, result_key: str | None, jpeg: bytes) -> str:
        """The media id of an image: a result (with its key) is stored once and reused while it lasts;
        anything else is stored anew."""
        if result_key is None:
            return await self.put(jpeg)
        return await uploads.send(UPLOAD_PLATFORM, result_key, self.alive, lambda: self.put(jpeg)) or ""

    @staticmethod
    def media_ids(uploads: list[tuple[str, str]]) -> list[str]:
        """The ids among (platform, file id) uploads that a media store served (a deleted person's)."""
        return [i for p, i in uploads if p == UPLOAD_PLATFORM and Sweeping.valid_id(i)]

    async def _sweep(self) -> SweepReport:
        raise NotImplementedError

    async def _sweep_logged(self) -> SweepReport:
        report = await self._sweep()
        self._bytes = report.bytes
        if report.removed:
            log.info("media sweep: removed %d, kept %d images (%d bytes)", report.removed, report.files,
                     report.bytes)
        return report

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every_s)
            try:
                await self._sweep_logged()
            except Exception:
                log.exception("media sweep failed")


class MediaStore(Sweeping):
    """The images as files in one folder (the embedded set-up: one machine)."""

    def __init__(
        self,
        root: Path,
        max_age_s: float = 24 * 3600,
        max_bytes: int = 1 << 30,
        sweep_every_s: float = 600,
    ) -> None:
        super().__init__(max_age_s, max_bytes, sweep_every_s)
        self.root = root

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        await super().start()

    async def put(self, jpeg: bytes) -> str:
        media_id = self.new_id()
        await asyncio.to_thread(self._write, media_id, jpeg)
        self._added(len(jpeg))
        return media_id

    async def forget(self, uploads: list[tuple[str, str]]) -> None:
        """Delete the files among (platform, file id) uploads that this store served (a deleted person's)."""
        doomed = [self.root / (i + SUFFIX) for i in self.media_ids(uploads)]
        def unlink() -> None:
            for path in doomed:
                path.unlink(missing_ok=True)

        await asyncio.to_thread(unlink)

    async def alive(self, media_id: str) -> bool:
        return self.path(media_id) is not None

    async def get(self, media_id: str) -> Path | None:
        """The file of a live image; None for a malformed, unknown or expired id."""
        return self.path(media_id)

    def path(self, media_id: str) -> Path | None:
        """The file of a live id; None for a malformed, unknown or expired id (never a path outside root)."""
        if not self.valid_id(media_id):
            return None
        path = self.root / (media_id + SUFFIX)
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return None
        return path if age < self.max_age_s else None

    def sweep(self) -> SweepReport:
        """Delete expired files and stray temp files, then the oldest until the folder fits max_bytes."""
        now = time.time()
        live: list[tuple[float, int, Path]] = []
        removed = 0
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            name = entry.name
            is_media = name.endswith(SUFFIX) and self.valid_id(name[: -len(SUFFIX)]) and entry.is_file()
            expired = now - st.st_mtime >= self.max_age_s
            # a temp file older than a minute belongs to a write that died half-way
            stale_tmp = name.startswith(_TMP_PREFIX) and now - st.st_mtime > 60
            if (is_media and expired) or stale_tmp:
                removed += _unlink(Path(entry.path))
            elif is_media:
                live.append((st.st_mtime, st.st_size, Path(entry.path)))
        live.sort()
        total = sum(size for _, size, _ in live)
        kept = len(live)
        for _, size, path in live:
            if total <= self.max_bytes:
                break
            if _unlink(path):
                removed += 1
                kept -= 1
                total -= size
        return SweepReport(removed=removed, files=kept, bytes=total)

    def _write(self, media_id: str, jpeg: bytes) -> None:
        # Write then rename, so a half-written file is never served.
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{_TMP_PREFIX}{media_id}"
        tmp.write_bytes(jpeg)
        os.replace(tmp, self.root / (media_id + SUFFIX))

    async def _sweep(self) -> SweepReport:
        return await asyncio.to_thread(self.sweep)


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError:
        return 0
    return 1
