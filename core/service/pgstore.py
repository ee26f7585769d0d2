"""The store on PostgreSQL (asyncpg): the same methods and meaning as the SQLite `Store`, for any number of bot
instances that share one database. Schema: core/service/migrations/postgres, versioned in `schema_version`."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import asyncpg

from core.errors import ConfigError
from core.recommend.feedback import Vote
from core.service import sql
from core.service.schema import SCHEMA_VERSION, check_version, migrations
from core.service.sql import numbered
from core.service.store import Asker, PersonIds, StoredFace, StoredRequest, owned, request_args, request_of

MIGRATIONS = migrations("postgres")
# One migration at a time however many instances run `fffusion db migrate` at once (any constant key works).
_MIGRATE_LOCK = 0x666675
_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


_owned = owned(lambda err: isinstance(err, asyncpg.ForeignKeyViolationError))


# `shown` in one statement, one round trip: all parts of a statement see the tables as they were before it, so
# the DELETE keeps the newest `keep - 1` earlier history entries and the new one stays. Arguments: result key,
# its owner, meme, now (sql.ADD_RESULT's), then person, text, keep; then the request's (sql.SAVE_REQUEST's), when
# there is one.
_SHOWN = (
    f" result AS ({numbered(sql.ADD_RESULT)}),"
    " added AS (INSERT INTO history (person, text, meme, at) VALUES ($5,$6,$3,$4))"
    " DELETE FROM history WHERE person=$5 AND id NOT IN"
    " (SELECT id FROM history WHERE person=$5 ORDER BY at DESC LIMIT greatest($7::int - 1, 0))"
)
_SHOWN_ALONE = "WITH" + _SHOWN
_SHOWN_WITH_REQUEST = f"WITH request AS ({numbered(sql.SAVE_REQUEST, 8)})," + _SHOWN


async def _keep(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is."""


class PostgresStore(PersonIds):
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    @property
    def where(self) -> str:
        return safe_url(self.url)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def open(self, upgrade: bool = False) -> int:
        """Connect; create the schema in an empty database, upgrade an older one only when asked (`fffusion db
        migrate`); returns the version found. ConfigError when unreachable or the schema does not fit the code."""
        try:
            # reset=_keep: the store never leaves session state behind (its only lock is transaction-scoped, it
            # sets nothing, listens to nothing), so asyncpg's reset query on every release is a wasted round trip
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size, reset=_keep)
        except (OSError, asyncpg.PostgresError, ValueError) as err:
            raise ConfigError("db.unreachable", url=self.where, reason=str(err) or type(err).__name__) from None
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
                await conn.execute(_VERSION_TABLE)
                found = await _version(conn)
                if found == 0 or (upgrade and found < SCHEMA_VERSION):
                    for script in MIGRATIONS[found:]:
                        await conn.execute(script)
                    await conn.execute("DELETE FROM schema_version")
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", SCHEMA_VERSION)
            check_version(await self.schema_version(), self.where)
        except Exception:
            await self.close()
            raise
        return found

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def schema_version(self) -> int:
        async with self.pool.acquire() as conn:
            return await _version(conn)

    async def _person_id(self, platform: str, user_id: str, create: bool) -> int | None:
        if create:
            # Insert-or-nothing: a person's first two messages may arrive at the same moment, on two instances.
            await self.pool.execute(numbered(sql.CREATE_PERSON), platform, user_id, time.time())
        found: int | None = await self.pool.fetchval(numbered(sql.PERSON_ID), platform, user_id)
        return found

    async def set_lang(self, person: int, lang: str) -> None:
        await self.pool.execute(numbered(sql.SET_LANG), lang, person)

    async def _refused(self) -> None:
        """After a write the database refused: its transaction already rolled back with the statement."""

    # faces
    @_owned
    async def save_face(self, person: int, face: StoredFace, make_default: bool) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(numbered(sql.SAVE_FACE), person, face.name, face.engine, face.record, face.crop_jpeg,
                               time.time())
            if make_default:
                await conn.execute(numbered(sql.SET_DEFAULT_FACE), face.name, person)

    async def upgrade_face(self, person: int, old: bytes, new: bytes, engine: str) -> None:
        """The record re-analysed by another engine in place of `old`, wherever the person still has it (a face saved
        meanwhile is newer: it stays)."""
        await self.pool.execute(numbered(sql.UPGRADE_FACE), new, engine, person, old)

    async def face_names(self, person: int) -> list[str]:
        rows = await self.pool.fetch(numbered(sql.FACE_NAMES), person)
        return [r[0] for r in rows]

    async def default_face(self, person: int) -> str | None:
        found: str | None = await self.pool.fetchval(numbered(sql.DEFAULT_FACE), person)
        return found

    async def face(self, person: int, name: str | None) -> StoredFace | None:
        row = await self.pool.fetchrow(numbered(sql.FACE), person, name)
        return StoredFace(*row) if row else None

    async def asker(self, platform: str, user_id: str, face: str | None, text: str) -> Asker | None:
        row = await self.pool.fetchrow(
            "SELECT p.id,"
            " (SELECT f.record FROM faces f WHERE f.person = p.id AND f.name = coalesce($3, p.default_face)),"
            " ARRAY(SELECT h.meme FROM history h WHERE h.person = p.id AND h.text = $4)"
            " FROM people p WHERE p.platform=$1 AND p.user_id=$2", platform, user_id, face, text,
        )
        return Asker(int(row[0]), row[1], frozenset(row[2])) if row else None

    async def stamp(self, platform: str, user_id: str) -> str | None:
        """Their row (an id never used again once deleted) and when their default face was saved."""
        row = await self.pool.fetchrow(numbered(sql.STAMP), platform, user_id)
        return f"{row[0]}:{row[1]}" if row else None

    async def delete_person(self, platform: str, user_id: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Every row of the person goes, in one transaction (the foreign keys cascade to the rest); returns the
        keys of the results that carried their face and the (platform, file id) uploads of them."""
        async with self.pool.acquire() as conn, conn.transaction():
            person = await conn.fetchval(
                "SELECT id FROM people WHERE platform=$1 AND user_id=$2 FOR UPDATE", platform, user_id
            )
            if person is None:
                return [], []
            # locked before the uploads are read: a copy being recorded (remember_upload) lands first or not at all
            keys = [r[0] for r in await conn.fetch("SELECT key FROM results WHERE person=$1 FOR UPDATE", person)]
            uploads = await conn.fetch(
                "DELETE FROM uploads WHERE result_key = ANY($1::text[]) RETURNING platform, file_id", keys
            )
            await conn.execute(numbered(sql.DELETE_PERSON), person)
        return keys, [(p, f) for p, f in uploads]

    async def stale_people(self, platform: str, before: float) -> list[str]:
        rows = await self.pool.fetch(numbered(sql.STALE_PEOPLE), platform, before)
        return [r[0] for r in rows]

    @_owned
    async def add_result(self, key: str, person: int | None, meme: str) -> None:
        await self.pool.execute(numbered(sql.ADD_RESULT), key, person, meme, time.time())

    # requests and history
    @_owned
    async def save_request(self, person: int, request: StoredRequest) -> None:
        await self.pool.execute(numbered(sql.SAVE_REQUEST), *request_args(person, request, time.time()))

    async def request(self, person: int, request_id: str) -> StoredRequest | None:
        row = await self.pool.fetchrow(numbered(sql.REQUEST), request_id, person)
        return request_of(row) if row is not None else None

    async def last_request(self, person: int) -> str | None:
        found: str | None = await self.pool.fetchval(numbered(sql.LAST_REQUEST), person)
        return found

    @_owned
    async def shown(self, person: int, text: str, meme: str, result: str, owner: int | None, keep: int,
                    request: StoredRequest | None = None) -> None:
        now = time.time()
        args = (result, owner, meme, now, person, text, keep)
        if request is None:
            await self.pool.execute(_SHOWN_ALONE, *args)
        else:
            await self.pool.execute(_SHOWN_WITH_REQUEST, *args, *request_args(person, request, now))

    # the votes of learning from use
    @_owned
    async def vote(self, person: int, text_key: str, meme: str, vote: int) -> None:
        """One vote per person, sentence and meme: a person can't flood the signal by repeating it."""
        await self.pool.execute(numbered(sql.VOTE), person, text_key, meme, vote, time.time())

    async def votes(self, limit: int) -> list[Vote]:
        rows = await self.pool.fetch(numbered(sql.VOTES), limit)
        return [Vote(*r) for r in rows]

    async def forget_votes(self) -> int:
        status = await self.pool.execute(sql.FORGET_VOTES)
        return int(status.split()[-1])

    async def votes_mark(self) -> tuple[int, float]:
        count, newest = await self.pool.fetchrow(sql.VOTES_MARK)
        return int(count), float(newest)

    # platform uploads
    async def remember_upload(self, platform: str, result_key: str, file_id: str) -> bool:
        """Record a platform's copy of a result; False (nothing recorded) when the result is gone, i.e. its
        person was deleted while the copy was being made: the caller deletes that copy. The result's row is
        held (FOR SHARE) until the copy is recorded, and delete_person locks it first, so one of the two waits
        for the other: the copy is either refused or found and deleted with the person."""
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM results WHERE key=$1 FOR SHARE", result_key) is None:
                return False
            await conn.execute(numbered(sql.SAVE_UPLOAD), platform, result_key, file_id)
        return True

    async def uploaded(self, platform: str, result_key: str) -> str | None:
        found: str | None = await self.pool.fetchval(numbered(sql.UPLOADED), platform, result_key)
        return found

    # consent to lend one's face to friends, per chat (core/service/friends.py)
    @_owned
    async def share_face(self, person: int, chat: str, name: str, handle: str | None) -> None:
        await self.pool.execute(numbered(sql.SHARE_FACE), person, chat, name, handle, time.time())

    async def unshare_face(self, person: int, chat: str) -> bool:
        status: str = await self.pool.execute(numbered(sql.UNSHARE_FACE), person, chat)
        return status != "DELETE 0"

    async def sharing(
        self, chat: str, platform: str, user_id: str | None, handle: str | None
    ) -> tuple[int, str] | None:
        """(person, name) of whoever allowed their face in this chat, found by user id or by @handle."""
        row = await self.pool.fetchrow(numbered(sql.SHARING), chat, platform, user_id, handle)
        return (int(row[0]), str(row[1])) if row else None


    @_owned
    async def set_chat_subtitle(self, chat: str, on: bool, person: int | None) -> None:
        if on:
            await self.pool.execute(numbered(sql.SUBTITLE_ON), chat, person, time.time())
        else:
            await self.pool.execute(numbered(sql.SUBTITLE_OFF), chat)

    async def chat_subtitle(self, chat: str) -> bool:
        return await self.pool.fetchval(numbered(sql.CHAT_SUBTITLE), chat) is not None

async def _version(conn: asyncpg.Connection) -> int:
    if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version") or 0)
