"""The bot's memory: one SQLite file (aiosqlite, WAL), schema versioned with PRAGMA user_version
(core/service/schema.py; core/service/pgstore.py is the same store on PostgreSQL).

A person is (platform, platform user id). Per person: registered faces (identity record and the aligned crop,
never the original photo), the default face, language, what they were sent (so "다른 짤" never repeats), their
open requests, the feedback they gave (its SQL is core.recommend.feedback.Learning's), and in which chats they let
friends use their face. Deleting a person removes every row of theirs in one transaction.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from core.recommend.feedback import Vote
from core.service import sql
from core.service.schema import SCHEMA_VERSION, check_version, migrations

# Each entry upgrades the schema from version N to N+1; never edit a released one, add a file.
MIGRATIONS = migrations("sqlite")


@dataclass(frozen=True)
class StoredFace:
    name: str
    engine: str
    record: bytes
    crop_jpeg: bytes


@dataclass(frozen=True)
class StoredRequest:
    id: str
    text_key: str  # the sentence as requests are keyed (core.service.service.text_key)
    face: str | None
    candidates: tuple[str, ...]
    shown: tuple[str, ...]


@dataclass(frozen=True)
class Asker:
    """What a ranking needs to know of a known person, read in one query: their id, the record of the face asked
    for (their default when none is named; None when there is no such face) and the memes they were shown for
    the sentence lately."""

    person: int
    record: bytes | None
    recent: frozenset[str]


class PersonGone(Exception):
    """A write for a person whose row is gone: deleted (through another instance, say) while the work was in
    flight. Nothing is written; the service ends the work with the "deleted" message."""


W = TypeVar("W", bound=Callable[..., Awaitable[Any]])


def owned(gone: Callable[[Exception], bool]) -> Callable[[W], W]:
    """Marks a store method that writes a person's rows: a write the database refuses because the person's row
    is gone (a foreign key, as `gone` recognises it for its backend) raises PersonGone."""

    def wrap(method: W) -> W:
        @functools.wraps(method)
        async def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await method(self, *args, **kwargs)
            except Exception as err:
                if not gone(err):
                    raise
                await self._refused()
                raise PersonGone() from None

        return write  # type: ignore[return-value]

    return wrap


def _fk_refused(err: Exception) -> bool:
    return isinstance(err, sqlite3.IntegrityError) and "FOREIGN KEY" in str(err)


_owned = owned(_fk_refused)


def request_args(person: int, request: StoredRequest, now: float) -> tuple[Any, ...]:
    """sql.SAVE_REQUEST's arguments."""
    return (request.id, person, request.text_key, request.face, json.dumps(request.candidates),
            json.dumps(request.shown), now)


def request_of(row: Sequence[Any]) -> StoredRequest:
    """A row of sql.REQUEST."""
    return StoredRequest(row[0], row[1], row[2], tuple(json.loads(row[3])), tuple(json.loads(row[4])))


class PersonIds:
    """Finding and making a person's row, the same in both stores over each one's `_person_id` query."""

    async def _person_id(self, platform: str, user_id: str, create: bool) -> int | None:
        raise NotImplementedError

    async def ensure_person(self, platform: str, user_id: str) -> int:
        """The person's id, their row made first when they have none (a first write of theirs)."""
        person = await self._person_id(platform, user_id, create=True)
        assert person is not None
        return person

    async def find_person(self, platform: str, user_id: str) -> int | None:
        """The person's id, or None: never makes a row."""
        return await self._person_id(platform, user_id, create=False)


class Store(PersonIds):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def open(self, upgrade: bool = False) -> int:
        """Open the file, creating the schema when it is new (upgrading an older one only when asked: `fffusion
        db migrate`); returns the schema version found. ConfigError when the schema does not fit the code."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA foreign_keys=ON")
        await self.db.execute("PRAGMA busy_timeout=10000")
        found = await self.schema_version()
        if found == 0 or (upgrade and found < SCHEMA_VERSION):
            await self._migrate()
        try:
            check_version(await self.schema_version(), self.where)
        except Exception:
            await self.close()
            raise
        return found

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _one(self, sql: str) -> aiosqlite.Row:
        """The one row a query always gives (an aggregate, a pragma)."""
        row = await (await self.db.execute(sql)).fetchone()
        if row is None:
            raise RuntimeError(f"no row from {sql}")
        return row

    async def _migrate(self) -> None:
        (version,) = await self._one("PRAGMA user_version")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits first; the version bump rides in the same script. Foreign keys are off
            # while a table is rebuilt (SQLite's way to change a table: dropping it would cascade), then on
            # again and checked.
            await self.db.executescript(
                f"PRAGMA foreign_keys=OFF;\nBEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;\n"
                "PRAGMA foreign_keys=ON;"
            )
            problems = list(await (await self.db.execute("PRAGMA foreign_key_check")).fetchall())
            if problems:
                raise RuntimeError(f"schema {number}: foreign key problems {problems[:5]}")

    async def schema_version(self) -> int:
        (version,) = await self._one("PRAGMA user_version")
        return int(version)

    async def _person_id(self, platform: str, user_id: str, create: bool) -> int | None:
        if create:
            # Insert-or-nothing first: a person's first two messages may arrive at the same moment.
            await self.db.execute(sql.CREATE_PERSON, (platform, user_id, time.time()))
            await self.db.commit()
        row = await (await self.db.execute(sql.PERSON_ID, (platform, user_id))).fetchone()
        return int(row[0]) if row else None

    async def set_lang(self, person: int, lang: str) -> None:
        await self.db.execute(sql.SET_LANG, (lang, person))
        await self.db.commit()

    async def _refused(self) -> None:
        """After a write the database refused: the transaction it opened goes."""
        await self.db.rollback()

    # faces
    @_owned
    async def save_face(self, person: int, face: StoredFace, make_default: bool) -> None:
        await self.db.execute(sql.SAVE_FACE, (person, face.name, face.engine, face.record, face.crop_jpeg, time.time()))
        if make_default:
            await self.db.execute(sql.SET_DEFAULT_FACE, (face.name, person))
        await self.db.commit()

    async def upgrade_face(self, person: int, old: bytes, new: bytes, engine: str) -> None:
        """The record re-analysed by another engine in place of `old`, wherever the person still has it (a face saved
        meanwhile is newer: it stays)."""
        await self.db.execute(sql.UPGRADE_FACE, (new, engine, person, old))
        await self.db.commit()

    async def face_names(self, person: int) -> list[str]:
        rows = await (await self.db.execute(sql.FACE_NAMES, (person,))).fetchall()
        return [r[0] for r in rows]

    async def default_face(self, person: int) -> str | None:
        row = await (await self.db.execute(sql.DEFAULT_FACE, (person,))).fetchone()
        return row[0] if row else None

    async def face(self, person: int, name: str | None) -> StoredFace | None:
        row = await (await self.db.execute(sql.FACE, (person, name))).fetchone()
        return StoredFace(*row) if row else None

    async def asker(self, platform: str, user_id: str, face: str | None, text: str) -> Asker | None:
        row = await (
            await self.db.execute(
                "SELECT p.id,"
                " (SELECT f.record FROM faces f WHERE f.person = p.id AND f.name = coalesce(?, p.default_face)),"
                " (SELECT json_group_array(h.meme) FROM history h WHERE h.person = p.id AND h.text = ?)"
                " FROM people p WHERE p.platform=? AND p.user_id=?", (face, text, platform, user_id)
            )
        ).fetchone()
        return Asker(int(row[0]), row[1], frozenset(json.loads(row[2]))) if row else None

    async def stamp(self, platform: str, user_id: str) -> str | None:
        """Their row (an id never used again once deleted) and when their default face was saved."""
        row = await (await self.db.execute(sql.STAMP, (platform, user_id))).fetchone()
        return f"{row[0]}:{row[1]}" if row else None

    async def delete_person(self, platform: str, user_id: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Every row of the person goes, in one transaction (the foreign keys cascade to the rest).

        Returns the keys of the results that carried their face and the (platform, file id) uploads of them,
        so caches and media stores can drop those too."""
        person = await self.find_person(platform, user_id)
        if person is None:
            return [], []
        mine = "SELECT key FROM results WHERE person=?"
        keys = [r[0] for r in await (await self.db.execute(mine, (person,))).fetchall()]
        uploads = await (
            await self.db.execute(f"SELECT platform, file_id FROM uploads WHERE result_key IN ({mine})", (person,))
        ).fetchall()
        await self.db.execute(f"DELETE FROM uploads WHERE result_key IN ({mine})", (person,))
        await self.db.execute(sql.DELETE_PERSON, (person,))
        await self.db.commit()
        return keys, [(p, f) for p, f in uploads]

    async def stale_people(self, platform: str, before: float) -> list[str]:
        rows = await (await self.db.execute(sql.STALE_PEOPLE, (platform, before))).fetchall()
        return [r[0] for r in rows]

    @_owned
    async def add_result(self, key: str, person: int | None, meme: str) -> None:
        await self._add_result(key, person, meme, time.time())
        await self.db.commit()

    async def _add_result(self, key: str, person: int | None, meme: str, now: float) -> None:
        await self.db.execute(sql.ADD_RESULT, (key, person, meme, now))

    # requests and history
    @_owned
    async def save_request(self, person: int, request: StoredRequest) -> None:
        await self._save_request(person, request, time.time())
        await self.db.commit()

    async def _save_request(self, person: int, request: StoredRequest, now: float) -> None:
        await self.db.execute(sql.SAVE_REQUEST, request_args(person, request, now))

    async def request(self, person: int, request_id: str) -> StoredRequest | None:
        row = await (await self.db.execute(sql.REQUEST, (request_id, person))).fetchone()
        return request_of(row) if row is not None else None

    async def last_request(self, person: int) -> str | None:
        row = await (await self.db.execute(sql.LAST_REQUEST, (person,))).fetchone()
        return row[0] if row else None

    @_owned
    async def shown(self, person: int, text: str, meme: str, result: str, owner: int | None, keep: int,
                    request: StoredRequest | None = None) -> None:
        """A meme was sent: its result (carrying `owner`'s face, or no face), the person's history (only the
        newest `keep` entries per person are needed) and, when given, the request it answers, in one transaction."""
        now = time.time()
        if request is not None:
            await self._save_request(person, request, now)
        await self._add_result(result, owner, meme, now)
        await self.db.execute(sql.ADD_HISTORY, (person, text, meme, now))
        await self.db.execute(
            "DELETE FROM history WHERE person=? AND rowid NOT IN "
            "(SELECT rowid FROM history WHERE person=? ORDER BY at DESC LIMIT ?)",
            (person, person, keep),
        )
        await self.db.commit()

    # the votes of learning from use (core.recommend.feedback.Learning decides what they mean)
    @_owned
    async def vote(self, person: int, text_key: str, meme: str, vote: int) -> None:
        """One vote per person, sentence and meme: a person can't flood the signal by repeating it."""
        await self.db.execute(sql.VOTE, (person, text_key, meme, vote, time.time()))
        await self.db.commit()

    async def votes(self, limit: int) -> list[Vote]:
        """The newest `limit` votes, oldest first."""
        rows = await (await self.db.execute(sql.VOTES, (limit,))).fetchall()
        return [Vote(*row) for row in rows]

    async def forget_votes(self) -> int:
        """Every vote gone (the operator's reset of learning from use); how many there were."""
        cursor = await self.db.execute(sql.FORGET_VOTES)
        await self.db.commit()
        return cursor.rowcount

    async def votes_mark(self) -> tuple[int, float]:
        """How many votes there are and when the newest was given: changes whenever the votes do."""
        count, newest = await self._one(sql.VOTES_MARK)
        return int(count), float(newest)

    # platform uploads
    async def remember_upload(self, platform: str, result_key: str, file_id: str) -> bool:
        """Record a platform's copy of a result; False (nothing recorded) when the result is gone, i.e. its
        person was deleted while the copy was being made: the caller deletes that copy."""
        cursor = await self.db.execute(
            "INSERT OR REPLACE INTO uploads (platform, result_key, file_id)"
            " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM results WHERE key=?)",
            (platform, result_key, file_id, result_key),
        )
        await self.db.commit()
        return cursor.rowcount > 0

    async def uploaded(self, platform: str, result_key: str) -> str | None:
        row = await (await self.db.execute(sql.UPLOADED, (platform, result_key))).fetchone()
        return row[0] if row else None

    # consent to lend one's face to friends, per chat (core/service/friends.py)
    @_owned
    async def share_face(self, person: int, chat: str, name: str, handle: str | None) -> None:
        await self.db.execute(sql.SHARE_FACE, (person, chat, name, handle, time.time()))
        await self.db.commit()

    async def unshare_face(self, person: int, chat: str) -> bool:
        cursor = await self.db.execute(sql.UNSHARE_FACE, (person, chat))
        await self.db.commit()
        return cursor.rowcount > 0

    async def sharing(
        self, chat: str, platform: str, user_id: str | None, handle: str | None
    ) -> tuple[int, str] | None:
        """(person, name) of whoever allowed their face in this chat, found by user id or by @handle."""
        row = await (await self.db.execute(sql.SHARING, (chat, platform, user_id, handle))).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    # "내 문장으로 자막" per chat (core/service/service.py, chat_subtitle)
    @_owned
    async def set_chat_subtitle(self, chat: str, on: bool, person: int | None) -> None:
        if on:
            await self.db.execute(sql.SUBTITLE_ON, (chat, person, time.time()))
        else:
            await self.db.execute(sql.SUBTITLE_OFF, (chat,))
        await self.db.commit()

    async def chat_subtitle(self, chat: str) -> bool:
        row = await (await self.db.execute(sql.CHAT_SUBTITLE, (chat,))).fetchone()
        return row is not None


class People(Protocol):
    """A person's row: made on their first write, found by (platform, user id), deleted with everything of
    theirs."""

    async def ensure_person(self, platform: str, user_id: str) -> int: ...
    async def find_person(self, platform: str, user_id: str) -> int | None: ...
    async def set_lang(self, person: int, lang: str) -> None: ...
    # changes when the person is deleted (even if they come back) or saves a new default face; None: unknown
    async def stamp(self, platform: str, user_id: str) -> str | None: ...
    async def delete_person(self, platform: str, user_id: str) -> tuple[list[str], list[tuple[str, str]]]: ...
    # user ids of the platform's people whose newest face (or, without one, whose first visit) is before `before`
    async def stale_people(self, platform: str, before: float) -> list[str]: ...


class Faces(Protocol):
    """A person's saved faces, one of them their default."""

    async def save_face(self, person: int, face: StoredFace, make_default: bool) -> None: ...
    async def upgrade_face(self, person: int, old: bytes, new: bytes, engine: str) -> None: ...
    async def face_names(self, person: int) -> list[str]: ...
    async def default_face(self, person: int) -> str | None: ...
    async def face(self, person: int, name: str | None) -> StoredFace | None: ...  # None: their default


class Requests(Protocol):
    """Meme requests and what each person was shown (their history, the results that carry their face), and
    the per-chat "내 문장으로 자막" setting their requests follow."""

    async def asker(self, platform: str, user_id: str, face: str | None, text: str) -> Asker | None: ...
    async def add_result(self, key: str, person: int | None, meme: str) -> None: ...
    async def save_request(self, person: int, request: StoredRequest) -> None: ...
    async def request(self, person: int, request_id: str) -> StoredRequest | None: ...
    async def last_request(self, person: int) -> str | None: ...  # shown last
    async def shown(self, person: int, text: str, meme: str, result: str, owner: int | None, keep: int,
                    request: StoredRequest | None = None) -> None: ...
    #: person: whose private chat it is (the row goes with them); None for a group chat
    async def set_chat_subtitle(self, chat: str, on: bool, person: int | None) -> None: ...
    async def chat_subtitle(self, chat: str) -> bool: ...


class Votes(Protocol):
    """Learning from use: one vote per person, sentence and meme (core/recommend/feedback.py)."""

    async def vote(self, person: int, text_key: str, meme: str, vote: int) -> None: ...
    async def votes(self, limit: int) -> list[Vote]: ...
    async def votes_mark(self) -> tuple[int, float]: ...
    async def forget_votes(self) -> int: ...


class Uploads(Protocol):
    """The id a platform gave a result image it received, so it is uploaded once (conversation.Uploads)."""

    async def remember_upload(self, platform: str, result_key: str, file_id: str) -> bool: ...
    async def uploaded(self, platform: str, result_key: str) -> str | None: ...


class Shares(Protocol):
    """Consent per chat to be swapped into friends' group memes (core/service/friends.py)."""

    async def share_face(self, person: int, chat: str, name: str, handle: str | None) -> None: ...
    async def unshare_face(self, person: int, chat: str) -> bool: ...
    async def sharing(
        self, chat: str, platform: str, user_id: str | None, handle: str | None
    ) -> tuple[int, str] | None: ...


class PeopleStore(People, Faces, Requests, Votes, Uploads, Shares, Protocol):
    """What the service asks of its store, one protocol per aggregate above. `Store` keeps it in one SQLite
    file; `PostgresStore` (core/service/pgstore.py) in PostgreSQL, shared by any number of bot instances. Same
    methods, same tests: tests/test_store.py holds both to exactly this list (only their connection, `db` or
    `pool`, is their own)."""

    @property
    def where(self) -> str: ...  # for messages: the file, or the URL without its password
    async def open(self, upgrade: bool = False) -> int: ...
    async def close(self) -> None: ...
    async def schema_version(self) -> int: ...
