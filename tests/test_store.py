"""The store's versioned schema, on SQLite and on a real PostgreSQL: a new database is created at the code's
version, an older one is upgraded only by `fffusion db migrate`, and neither an older nor a newer one is used; ids
are never reused, and an old SQLite database upgrades without losing a row."""

from __future__ import annotations

import inspect
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.messages import render
from core.service import pgstore, schema, sql, store
from core.service.pgstore import PostgresStore
from core.service.schema import SCHEMA_VERSION
from core.service.sql import numbered
from core.service.store import MIGRATIONS, Asker, PeopleStore, PersonGone, Store, StoredFace, StoredRequest

MakeStore = Callable[[Path], Awaitable[PeopleStore | None]]


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def db(make_store: MakeStore, tmp_path: Path) -> AsyncIterator[PeopleStore]:
    """An open store of the backend under test, closed after the test."""
    opened: PeopleStore = await make_store(tmp_path) or Store(tmp_path / "fffusion.sqlite3")
    await opened.open()
    yield opened
    await opened.close()


async def test_schema_is_created_then_only_migrated_on_purpose(
    make_store: MakeStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db: PeopleStore = await make_store(tmp_path) or Store(tmp_path / "fffusion.sqlite3")
    assert await db.open() == 0  # a new database: created at the code's version
    alice = await db.ensure_person("telegram", "1")
    assert await db.schema_version() == SCHEMA_VERSION
    await db.close()

    later = SCHEMA_VERSION + 1
    for module in (schema, store, pgstore):
        monkeypatch.setattr(module, "SCHEMA_VERSION", later)
    for module in (store, pgstore):
        monkeypatch.setattr(module, "MIGRATIONS", (*module.MIGRATIONS, "CREATE TABLE later (x INTEGER);"))
    with pytest.raises(ConfigError) as caught:  # newer code, older database: not used, and says what to do
        await db.open()
    assert caught.value.key == "db.schema_old" and caught.value.exit_code == 2
    assert "fffusion db migrate" in render(caught.value.key, "ko", **caught.value.params)
    assert "fffusion db migrate" in str(caught.value)
    assert await db.open(upgrade=True) == SCHEMA_VERSION
    assert await db.schema_version() == later
    assert await db.find_person("telegram", "1") == alice  # nobody lost on the way
    await db.close()

    monkeypatch.undo()  # the old code again, on the upgraded database
    with pytest.raises(ConfigError) as caught:
        await db.open(upgrade=True)
    assert caught.value.key == "db.schema_new" and "Upgrade fffusion" in str(caught.value)


def test_run_refuses_a_newer_schema_and_db_migrate_reports(run_cli, cli_env: dict[str, str]) -> None:
    migrated = run_cli("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"v0 → v{SCHEMA_VERSION}" in migrated.stdout
    path = Path(cli_env["FFFUSION_DATA_DIR"]) / "fffusion.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    cli_env.update(FFFUSION_KAKAO_SECRET="s" * 20, FFFUSION_PUBLIC_URL="http://127.0.0.1:1", FFFUSION_HTTP_PORT="0",
                   FFFUSION_LOG_LEVEL="WARNING")
    refused = run_cli("run")
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "업그레이드" in line and str(path) in line


async def test_a_deleted_persons_id_is_never_given_to_a_newcomer(db: PeopleStore) -> None:
    seen = set()
    for n in range(5):
        alice = await db.ensure_person("t", f"alice{n}")  # the newest row: SQLite would reuse max(id) + 1
        assert alice not in seen
        seen.add(alice)
        await db.delete_person("t", f"alice{n}")
    assert await db.ensure_person("t", "bob") not in seen


async def test_a_version_1_sqlite_database_upgrades_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version=1;\nCOMMIT;")
    db.execute("INSERT INTO people (id, platform, user_id, created) VALUES (1, 't', 'a', 0), (2, 't', 'b', 0)")
    db.execute("INSERT INTO faces VALUES (2, '기본', 'e', x'01', x'02', 0)")
    db.execute("INSERT INTO history VALUES (2, 'hi', 'm', 0)")
    db.commit()
    db.close()
    store = Store(path)
    assert await store.open(upgrade=True) == 1
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        assert await store.find_person("t", "b") == 2
        assert await store.face(2, "기본") == StoredFace("기본", "e", b"\x01", b"\x02")
        await store.delete_person("t", "b")  # the cascade still holds after the rebuild
        assert await store.face(2, "기본") is None
        assert await store.asker("t", "b", None, "hi") is None
        assert await store.ensure_person("t", "c") == 3  # not 2: deleted ids stay unused
    finally:
        await store.close()


async def test_consent_is_per_chat_and_goes_with_the_person(db: PeopleStore) -> None:
    bob = await db.ensure_person("telegram", "2")
    await db.share_face(bob, "telegram:chat1", "Bob", "bobby")
    assert await db.sharing("telegram:chat1", "telegram", None, "bobby") == (bob, "Bob")
    assert await db.sharing("telegram:chat1", "telegram", "2", None) == (bob, "Bob")
    assert await db.sharing("telegram:chat2", "telegram", "2", "bobby") is None  # never crosses chats
    assert await db.sharing("telegram:chat1", "discord", "2", "bobby") is None
    await db.share_face(bob, "telegram:chat2", "Bobby", None)
    assert await db.unshare_face(bob, "telegram:chat1") is True
    assert await db.unshare_face(bob, "telegram:chat1") is False
    assert await db.sharing("telegram:chat1", "telegram", "2", None) is None
    await db.delete_person("telegram", "2")
    newcomer = await db.ensure_person("telegram", "2")  # the same user id again: none of the old consent
    assert await db.sharing("telegram:chat2", "telegram", "2", None) is None and newcomer != bob


async def test_a_chats_subtitle_setting_and_a_private_one_that_goes_with_the_person(db: PeopleStore) -> None:
    kim = await db.ensure_person("kakao", "kim")
    assert await db.chat_subtitle("telegram:-100") is False  # off unless asked for
    await db.set_chat_subtitle("telegram:-100", True, None)
    await db.set_chat_subtitle("telegram:-100", True, None)  # twice is still on, once
    await db.set_chat_subtitle(f"person:{kim}", True, kim)
    assert await db.chat_subtitle("telegram:-100") and await db.chat_subtitle(f"person:{kim}")
    assert await db.chat_subtitle("discord:-100") is False  # never crosses platforms
    await db.set_chat_subtitle("telegram:-100", False, None)
    assert await db.chat_subtitle("telegram:-100") is False
    await db.set_chat_subtitle("telegram:-100", True, None)
    await db.delete_person("kakao", "kim")
    assert await db.chat_subtitle(f"person:{kim}") is False  # the private setting went with them
    assert await db.chat_subtitle("telegram:-100") is True  # a group's stays
    with pytest.raises(PersonGone):  # a write for someone deleted meanwhile is refused, not orphaned
        await db.set_chat_subtitle(f"person:{kim}", True, kim)


async def test_what_was_shown_is_recorded_and_read_back(db: PeopleStore) -> None:
    """A meme sent is recorded (request, result, history) by one call and what the next ranking needs is read by
    one; a fresh meme for a repeated sentence needs only the newest history entries: older ones go."""
    alice, bob = await db.ensure_person("t", "alice"), await db.ensure_person("t", "bob")
    await db.save_face(alice, StoredFace("기본", "e", b"\x01", b"\x02"), make_default=True)
    await db.save_face(alice, StoredFace("고양이", "e", b"\x03", b"\x04"), make_default=False)
    await db.shown(bob, "hi", "b0", "kb", None, 3)
    request = StoredRequest("r1", "hi", None, ("m0", "m1"), ("m0",))
    for n in range(5):
        await db.shown(alice, "hi", f"m{n}", f"k{n}", alice, 3, request if n == 0 else None)
    assert await db.asker("t", "alice", None, "hi") == Asker(alice, b"\x01", frozenset({"m2", "m3", "m4"}))
    assert await db.asker("t", "alice", "고양이", "bye") == Asker(alice, b"\x03", frozenset())
    assert await db.asker("t", "alice", "없는", "hi") == Asker(alice, None, frozenset({"m2", "m3", "m4"}))
    assert await db.asker("t", "bob", None, "hi") == Asker(bob, None, frozenset({"b0"}))  # not trimmed by hers
    assert await db.asker("t", "carol", None, "hi") is None
    assert await db.request(alice, "r1") == request
    keys, _ = await db.delete_person("t", "alice")
    assert sorted(keys) == [f"k{n}" for n in range(5)]  # the results with her face were recorded as hers
    with pytest.raises(PersonGone):  # work in flight for her writes nothing, all or none
        await db.shown(alice, "hi", "m9", "k9", None, 3, request)
    assert not await db.remember_upload("t", "k9", "file") and await db.asker("t", "alice", None, "hi") is None


#: each backend's own connection (pgmedia reads PostgresStore's): the only public names outside the protocol
CONNECTIONS = {Store: {"db"}, PostgresStore: {"pool"}}


def _public(cls: type) -> dict[str, inspect.Signature | str]:
    """A class's public methods by their signature, and its properties (as "property")."""
    members: dict[str, inspect.Signature | str] = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            members[name] = "property"
        elif inspect.isfunction(member):
            members[name] = inspect.signature(member)
    return members


def test_both_backends_offer_exactly_the_protocol() -> None:
    """What one backend adds and the protocol does not list is missing on the other (the web face sweep called
    SQLite's stale_people on PostgreSQL): every public method of either is in the protocol, with the same
    signature, and every method of the protocol is in both."""
    protocol = _public(PeopleStore)
    for backend, connection in CONNECTIONS.items():
        offered = {name: kind for name, kind in _public(backend).items() if name not in connection}
        assert sorted(offered) == sorted(protocol), backend.__name__
        for name, kind in protocol.items():
            assert offered[name] == kind, f"{backend.__name__}.{name}{offered[name]} is not {name}{kind}"


async def test_stale_people_are_those_whose_newest_face_or_first_visit_is_old(db: PeopleStore) -> None:
    """The web page deletes its visitors after a while, by what this returns, on either backend."""
    old, fresh, _ = [await db.ensure_person("web", user) for user in ("old", "fresh", "faceless")]
    await db.ensure_person("kakao", "other")
    await db.save_face(old, StoredFace("기본", "e", b"\x01", b"\x02"), make_default=True)
    await db.save_face(fresh, StoredFace("기본", "e", b"\x03", b"\x04"), make_default=True)
    assert await db.stale_people("web", time.time() - 3600) == []
    later = time.time() + 1
    assert sorted(await db.stale_people("web", later)) == ["faceless", "fresh", "old"]
    await db.save_face(old, StoredFace("회사용", "e", b"\x05", b"\x06"), make_default=False)  # a newer face
    newest = time.time()
    assert "old" not in await db.stale_people("web", newest - 0.5)
    assert sorted(await db.stale_people("kakao", later)) == ["other"]  # per platform


def test_postgresql_numbers_the_placeholders_of_the_shared_statements() -> None:
    """Both stores run the same statements (core/service/sql.py); PostgreSQL's take $n in order, from any start."""
    assert numbered(sql.SET_LANG) == "UPDATE people SET lang=$1 WHERE id=$2"
    assert numbered("INSERT INTO t VALUES (?,?)", 8) == "INSERT INTO t VALUES ($8,$9)"
    assert "?" not in numbered(sql.SAVE_REQUEST) and "$7" in numbered(sql.SAVE_REQUEST)
