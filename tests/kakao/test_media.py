"""The media store: random ids, strict id check, lifetime, size cap."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from PIL import Image

from core.service.media import MediaStore


def _jpeg(seed: int, side: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (seed % 256, 40, 90)).save(out, "JPEG")
    return out.getvalue()


def _age(store: MediaStore, media_id: str, seconds: float) -> None:
    path = store.root / f"{media_id}.jpg"
    past = time.time() - seconds
    os.utime(path, (past, past))


async def test_put_gives_random_ids_that_serve_the_bytes(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    await store.start()
    try:
        data = _jpeg(1)
        ids = [await store.put(data) for _ in range(20)]
        assert len(set(ids)) == 20
        assert all(len(i) == 22 and store.valid_id(i) for i in ids)
        path = store.path(ids[0])
        assert path is not None and path.read_bytes() == data
        assert not list(store.root.glob(".tmp-*"))
    finally:
        await store.close()


async def test_path_refuses_anything_but_a_live_id(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    await store.start()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    try:
        good = await store.put(_jpeg(2))
        for bad in ["", "../secret", "../" + good, good + "/", good[:-1], good + "A", "a" * 21 + ".",
                    "%2e%2e%2fsecret00000000", "A" * 22]:
            assert store.path(bad) is None, bad
        assert store.path(good) is not None
    finally:
        await store.close()


async def test_expired_files_are_gone_and_swept(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_age_s=3600)
    await store.start()
    try:
        old, new = await store.put(_jpeg(3)), await store.put(_jpeg(4))
        _age(store, old, 3601)
        assert store.path(old) is None  # expired before any sweep ran
        (store.root / ".tmp-dead").write_bytes(b"half")
        os.utime(store.root / ".tmp-dead", (time.time() - 120,) * 2)
        (store.root / "notes.txt").write_bytes(b"not ours")
        report = store.sweep()
        assert report.removed == 2 and report.files == 1
        assert sorted(p.name for p in store.root.iterdir()) == sorted([f"{new}.jpg", "notes.txt"])
    finally:
        await store.close()


async def test_size_cap_evicts_oldest_first(tmp_path: Path) -> None:
    size = len(_jpeg(0, 256))
    store = MediaStore(tmp_path / "media", max_bytes=size * 3)
    await store.start()
    try:
        ids = []
        for n in range(3):
            ids.append(await store.put(_jpeg(n, 256)))
            _age(store, ids[-1], 100 - n)  # oldest first
        ids.append(await store.put(_jpeg(9, 256)))  # crosses the cap: eviction runs in the background
        report = store.sweep()
        assert report.files == 3 and report.bytes <= size * 3
        assert store.path(ids[0]) is None and all(store.path(i) for i in ids[1:])
    finally:
        await store.close()


async def test_start_sweeps_what_a_previous_run_left(tmp_path: Path) -> None:
    first = MediaStore(tmp_path / "media", max_age_s=60)
    await first.start()
    left = await first.put(_jpeg(5))
    await first.close()
    _age(first, left, 61)
    second = MediaStore(tmp_path / "media", max_age_s=60)
    await second.start()
    try:
        assert not (second.root / f"{left}.jpg").exists()
    finally:
        await second.close()


async def test_forget_deletes_only_this_stores_files(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    await store.start()
    try:
        gone, kept = await store.put(_jpeg(1)), await store.put(_jpeg(2))
        await store.forget([("media", gone), ("telegram", kept), ("media", "../../etc/passwd")])
        assert store.path(gone) is None and store.path(kept) is not None
    finally:
        await store.close()
