"""Result images served by URL, in PostgreSQL: every bot instance behind the load balancer serves every image.

Why PostgreSQL (docs/DESIGN.md has the longer note): the database is already the one shared, durable place every
instance reaches; the images are small (at most `max_output_bytes`, ~100 KB) and few at a time (the 1 GiB cap
is ~10,000), which PostgreSQL keeps on disk (TOAST) rather than in Redis's memory; a deleted person's images go
with a DELETE in the same database as the rest of them; and no bucket service has to be run or reached. Same
ids, lifetime and size cap as the file store (core/service/media.py)."""

from __future__ import annotations

import time

from core.service.media import Sweeping, SweepReport
from core.service.pgstore import PostgresStore


class PostgresMediaStore(Sweeping):
    def __init__(
        self, store: PostgresStore, max_age_s: float = 24 * 3600, max_bytes: int = 1 << 30, sweep_every_s: float = 600
    ) -> None:
        super().__init__(max_age_s, max_bytes, sweep_every_s)
        self.store = store

    async def put(self, jpeg: bytes) -> str:
        media_id = self.new_id()
        await self.store.pool.execute(
            "INSERT INTO media (id, jpeg, size, created) VALUES ($1, $2, $3, $4)", media_id, jpeg, len(jpeg),
            time.time(),
        )
        self._added(len(jpeg))
        return media_id

    async def forget(self, uploads: list[tuple[str, str]]) -> None:
        await self.store.pool.execute("DELETE FROM media WHERE id = ANY($1::text[])", self.media_ids(uploads))

    async def alive(self, media_id: str) -> bool:
        return self.valid_id(media_id) and bool(await self.store.pool.fetchval(
            "SELECT 1 FROM media WHERE id=$1 AND created > $2", media_id, time.time() - self.max_age_s
        ))

    async def get(self, media_id: str) -> bytes | None:
        """The bytes of a live image; None for a malformed, unknown or expired id."""
        if not self.valid_id(media_id):
            return None
        jpeg: bytes | None = await self.store.pool.fetchval(
            "SELECT jpeg FROM media WHERE id=$1 AND created > $2", media_id, time.time() - self.max_age_s
        )
        return jpeg

    async def _sweep(self) -> SweepReport:
        """Expired images go, then the oldest until the rest fit max_bytes (any instance may sweep; the deletes
        of two at once only overlap)."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            expired = await conn.execute("DELETE FROM media WHERE created <= $1", time.time() - self.max_age_s)
            evicted = await conn.execute(
                "DELETE FROM media WHERE id IN (SELECT id FROM (SELECT id, sum(size) OVER"
                " (ORDER BY created DESC, id) AS newer FROM media) AS m WHERE newer > $1)", self.max_bytes,
            )
            files, total = await conn.fetchrow("SELECT count(*), coalesce(sum(size), 0) FROM media")
        removed = int(expired.split()[-1]) + int(evicted.split()[-1])
        return SweepReport(removed=removed, files=int(files), bytes=int(total))
