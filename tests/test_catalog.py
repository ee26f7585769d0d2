from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from core.catalog.catalog import load_captions, load_catalog
from core.catalog.edit import add_meme
from core.errors import InputError


def _png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    Image.new("RGB", size, (200, 120, 90)).save(path)
    return path


def test_demo_catalog_loads_with_images_from_packages(demo_catalog_dir: Path) -> None:
    catalog = load_catalog(demo_catalog_dir)
    assert len(catalog.memes) >= 12
    assert len(set(catalog.by_id)) == len(catalog.memes)
    group = catalog.by_id["poker-table"]
    assert len(group.faces) >= 2  # the multi-face meme
    crop = catalog.by_id["chandler-laugh"]
    with Image.open(io.BytesIO(catalog.image_bytes(crop))) as img:
        assert img.size == (crop.crop[2], crop.crop[3])
    assert all(m.where.endswith(tuple(f":{n}" for n in range(1, 400))) for m in catalog.memes)


def test_every_bad_entry_is_reported_with_file_and_line(tmp_path: Path) -> None:
    _png(tmp_path / "ok.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a picture at all")
    (tmp_path / "catalog.toml").write_text(
        """
[[meme]]
id = "good"
image = "ok.png"
caption = "잘 되는 짤이다."

[[meme]]
id = "no-image"
image = "missing.png"
caption = "이미지가 없다."

[[meme]]
id = "broken"
image = "broken.jpg"
caption = "깨진 이미지다."

[[meme]]
id = "good"
image = "ok.png"
caption = "아이디가 겹친다."

[[meme]]
id = "blank"
image = "ok.png"
caption = "   "
""",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        load_catalog(tmp_path)
    err = caught.value
    assert err.key == "catalog.invalid" and err.params["count"] == 4
    details = err.params["details"].splitlines()
    where = str(tmp_path / "catalog.toml")
    assert details[0] == f"{where}:7: image not found: missing.png"
    assert details[1] == f"{where}:12: image is not a readable picture: broken.jpg"
    assert details[2].startswith(f"{where}:17: duplicate id 'good' (first at {where}:2)")
    assert details[3] == f"{where}:22: empty caption"


def test_add_meme_copies_the_image_and_appends_a_valid_entry(tmp_path: Path) -> None:
    source = _png(tmp_path / "My Meme.png")
    catalog_dir = tmp_path / "catalog"
    meme = add_meme(
        catalog_dir, source, "  월급날이라 신이 나 있다. ", examples=["월급 들어왔다"], tags=["돈"]
    )
    assert meme.id == "My-Meme"
    assert (catalog_dir / "images" / "My-Meme.png").read_bytes() == source.read_bytes()
    again = load_catalog(catalog_dir)
    assert again.by_id["My-Meme"].caption == "월급날이라 신이 나 있다."
    assert again.by_id["My-Meme"].examples == ("월급 들어왔다",)
    with pytest.raises(InputError) as caught:
        add_meme(catalog_dir, source, "같은 짤")
    assert caught.value.key == "catalog.image_exists"


def test_captions_file_ids_are_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "captions.txt"
    path.write_text("생일 축하를 받았다.\n배가 고프다.\n", encoding="utf-8")
    catalog = load_captions(path)
    assert [(m.id, m.caption) for m in catalog.memes] == [("0", "생일 축하를 받았다."), ("1", "배가 고프다.")]
    path.write_text("하나\n\n셋\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_captions(path)
    assert caught.value.params["details"] == f"{path}:2: empty caption"
