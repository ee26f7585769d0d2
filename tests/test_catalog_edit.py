"""Catalog edits from code: the whole demo catalog survives a rewrite, every write keeps a backup, a write that
would not load is rolled back, and uploads are checked before anything is written."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from core.catalog.catalog import CATALOG_FILE, load_catalog
from core.catalog.edit import NewMeme, add_memes, catalog_version, delete_meme, update_meme, write_catalog
from core.errors import InputError
from core.limits import Limits


def _png(color: tuple[int, int, int] = (200, 120, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def demo_copy(tmp_path: Path, demo_catalog_dir: Path) -> Path:
    shutil.copyfile(demo_catalog_dir / CATALOG_FILE, tmp_path / CATALOG_FILE)
    return tmp_path


def test_a_rewrite_keeps_every_field_and_the_header(demo_copy: Path, demo_catalog_dir: Path) -> None:
    before = load_catalog(demo_copy)
    write_catalog(demo_copy, before.memes)
    after = load_catalog(demo_copy)
    strip = [{**m.__dict__, "where": ""} for m in before.memes]
    assert [{**m.__dict__, "where": ""} for m in after.memes] == strip
    text = (demo_copy / CATALOG_FILE).read_text(encoding="utf-8")
    assert text.startswith("# FFfusion demo catalog.")  # the person's comment block stays
    backup = demo_copy / (CATALOG_FILE + ".bak")
    assert backup.read_bytes() == (demo_catalog_dir / CATALOG_FILE).read_bytes()


def test_update_and_delete(demo_copy: Path) -> None:
    version = catalog_version(demo_copy)
    caption = '  따옴표 "와" 역슬래시 \\ 도\n 되는 설명 '
    update_meme(demo_copy, "ross-smug", caption, ["예시 하나", " "], ["태그"], [0, 0])
    meme = load_catalog(demo_copy).by_id["ross-smug"]
    assert (meme.caption, meme.examples, meme.tags, meme.faces) == (
        '따옴표 "와" 역슬래시 \\ 도 되는 설명', ("예시 하나",), ("태그",), (0,))
    assert catalog_version(demo_copy) != version
    delete_meme(demo_copy, "ross-smug")
    assert "ross-smug" not in load_catalog(demo_copy).by_id
    for change, key in [(lambda: delete_meme(demo_copy, "ross-smug"), "catalog.no_such_meme"),
                        (lambda: update_meme(demo_copy, "rachel-sleepy", "  "), "catalog.invalid")]:
        with pytest.raises(InputError) as caught:
            change()
        assert caught.value.key == key


def test_deleting_a_meme_deletes_its_own_picture(demo_copy: Path) -> None:
    first, second = add_memes(demo_copy, [NewMeme("a.png", _png("red"), "하나"), NewMeme("b.png", _png("blue"), "둘")])
    # a meme sharing a picture keeps it
    write_catalog(demo_copy, [*load_catalog(demo_copy).memes, dataclasses.replace(first, id="shares-a")])
    delete_meme(demo_copy, first.id)
    assert (demo_copy / first.image).is_file()
    delete_meme(demo_copy, "shares-a")
    assert not (demo_copy / first.image).exists()
    delete_meme(demo_copy, second.id)
    assert not (demo_copy / second.image).exists()
    delete_meme(demo_copy, "ross-smug")  # a package's picture is never touched
    assert load_catalog(demo_copy).image_bytes(load_catalog(demo_copy).by_id["poker-table"])


def test_a_write_that_would_not_load_is_rolled_back(demo_copy: Path) -> None:
    catalog = load_catalog(demo_copy)
    good = (demo_copy / CATALOG_FILE).read_bytes()
    broken = [*catalog.memes, catalog.memes[0]]  # a duplicate id
    with pytest.raises(InputError) as caught:
        write_catalog(demo_copy, broken)
    assert "duplicate id" in caught.value.params["details"]
    assert (demo_copy / CATALOG_FILE).read_bytes() == good


def test_uploads_get_fresh_ids_and_bad_ones_write_nothing(demo_copy: Path) -> None:
    before = (demo_copy / CATALOG_FILE).read_bytes()
    bad = [NewMeme("fine.png", _png(), "괜찮은 짤이다."), NewMeme("broken.jpg", b"not a picture", "깨진 짤")]
    with pytest.raises(InputError) as caught:
        add_memes(demo_copy, bad)
    assert caught.value.key == "catalog.bad_image" and caught.value.params["path"] == "broken.jpg"
    assert (demo_copy / CATALOG_FILE).read_bytes() == before and not (demo_copy / "images").exists()
    added = add_memes(demo_copy, [NewMeme("ross-smug.png", _png(), "같은 이름의 새 짤이다."),
                                  NewMeme("새 짤.png", _png((10, 10, 10)), "한글 이름의 짤이다.")])
    assert [m.id for m in added] == ["ross-smug-2", "meme"]
    assert (demo_copy / "images" / "ross-smug-2.png").read_bytes() == _png()
    assert load_catalog(demo_copy).by_id["meme"].caption == "한글 이름의 짤이다."


def test_uploads_over_the_limits_are_refused(demo_copy: Path) -> None:
    limits = Limits(max_image_pixels=1000)  # 64x48 = 3072 pixels
    with pytest.raises(InputError) as caught:
        add_memes(demo_copy, [NewMeme("big.png", _png(), "큰 짤이다.")], limits)
    assert caught.value.key == "image.too_many_pixels" and not (demo_copy / "images").exists()
