"""The store on real SQLite: ids are never reused, and an old database upgrades without losing a row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.service.store import MIGRATIONS, Store, StoredFace


async def test_a_deleted_persons_id_is_never_given_to_a_newcomer(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    await store.open()
    try:
        seen = set()
        for n in range(5):
            alice = await store.person("t", f"alice{n}")  # the newest row: SQLite would reuse max(id) + 1
            assert alice not in seen
            seen.add(alice)
            await store.delete_person("t", f"alice{n}")
        assert await store.person("t", "bob") not in seen
    finally:
        await store.close()


async def test_a_version_1_database_upgrades_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version=1;\nCOMMIT;")
    db.execute("INSERT INTO people (id, platform, user_id, created) VALUES (1, 't', 'a', 0), (2, 't', 'b', 0)")
    db.execute("INSERT INTO faces VALUES (2, '기본', 'e', x'01', x'02', 0)")
    db.execute("INSERT INTO history VALUES (2, 'hi', 'm', 0)")
    db.commit()
    db.close()
    store = Store(path)
    await store.open()
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        assert await store.find_person("t", "b") == 2
        assert await store.face(2, "기본") == StoredFace("기본", "e", b"\x01", b"\x02")
        await store.delete_person("t", "b")  # the cascade still holds after the rebuild
        assert await store.face(2, "기본") is None
        assert await store.recent_memes(2, "hi") == set()
        assert await store.person("t", "c") == 3  # not 2: deleted ids stay unused
    finally:
        await store.close()
