"""The command line against hostile files and paths: every case exits 2 with one line, leaves no file behind
and keeps the catalog parseable."""

from __future__ import annotations

import io
import os
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from core.messages import render
from tests.imagefiles import png_claiming, truncated


def _one_line(result, key: str | None = None, **params: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    if key is not None:
        assert render(key, "ko", **params) in result.stderr


def _jpeg(size: tuple[int, int] = (96, 80)) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".partial")


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder"])
def test_swap_reads_no_device_fifo_or_folder(run_cli, tmp_path: Path, photo_b: bytes, special: str) -> None:
    """/dev/zero once read 23.8 GB until the OOM killer came; a FIFO blocked forever."""
    meme = tmp_path / "meme.jpg"
    meme.write_bytes(photo_b)
    face = special
    if special == "fifo":
        face = str(tmp_path / "face.fifo")
        os.mkfifo(face)
    elif special == "folder":
        face = str(tmp_path)
    result = run_cli("swap", "--face", face, "--meme", str(meme), "-o", str(tmp_path / "out.jpg"), timeout=60)
    _one_line(result, "file.not_regular", path=face)
    assert not (tmp_path / "out.jpg").exists()


def test_a_face_file_over_the_cap_is_read_no_further(run_cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    cli_env["FFFUSION_MAX_IMAGE_BYTES"] = "2048"  # the smallest cap the setting allows is 1024 bytes
    big = tmp_path / "big.jpg"
    big.write_bytes(_jpeg((400, 400)))
    assert big.stat().st_size > 2048
    result = run_cli("swap", "--face", str(big), "--meme", str(big), "-o", str(tmp_path / "o.jpg"), timeout=60)
    _one_line(result)
    assert "MB" in result.stderr


def test_a_superscript_face_number_is_one_clear_line(run_cli, tmp_path: Path, photo_a: bytes) -> None:
    """`--target ²` once ended in a traceback: str.isdigit() let it through to int()."""
    face = tmp_path / "face.jpg"
    face.write_bytes(photo_a)
    result = run_cli("swap", "--face", str(face), "--meme", str(face), "--target", "²", "-o",
                     str(tmp_path / "out.jpg"), timeout=180)
    _one_line(result, "face.bad_target_spec", value="²")
    assert not (tmp_path / "out.jpg").exists()


@pytest.mark.parametrize("where", ["folder", "proc"])
def test_swap_output_that_cannot_be_written(run_cli, tmp_path: Path, photo_a: bytes, photo_b: bytes,
                                            where: str) -> None:
    face, meme = tmp_path / "face.jpg", tmp_path / "meme.jpg"
    face.write_bytes(photo_a)
    meme.write_bytes(photo_b)
    out = tmp_path / "out.jpg" if where == "folder" else Path("/proc/self/fffusion/out.jpg")
    if where == "folder":
        out.mkdir()
    result = run_cli("swap", "--face", str(face), "--meme", str(meme), "-o", str(out), timeout=180)
    _one_line(result)
    assert str(out) in result.stderr
    assert _leftovers(tmp_path) == []


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "cat"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "first.jpg").write_bytes(_jpeg())
    (folder / "catalog.toml").write_text(
        '[[meme]]\nid = "first"\nimage = "images/first.jpg"\ncaption = "처음 짤이다."\n', encoding="utf-8"
    )
    return folder


def _unchanged(folder: Path, before: str) -> None:
    assert (folder / "catalog.toml").read_text(encoding="utf-8") == before
    tomllib.loads(before)
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["first.jpg"]
    assert _leftovers(folder) == []


@pytest.mark.parametrize(("extra", "key"), [
    (["캡션\x01이상"], "catalog.bad_text"),
    (["좋은 캡션", "--example", "예문\x1b[31m빨강"], "catalog.bad_text"),
    (["좋은 캡션", "--tag", "tag\x7f"], "catalog.bad_text"),
])
def test_catalog_add_refuses_control_characters(run_cli, catalog: Path, tmp_path: Path, extra: list[str],
                                                key: str) -> None:
    image = tmp_path / "new.jpg"
    image.write_bytes(_jpeg())
    before = (catalog / "catalog.toml").read_text(encoding="utf-8")
    _one_line(run_cli("catalog", "add", str(catalog), str(image), *extra))
    _unchanged(catalog, before)


def test_catalog_add_writes_toml_that_parses(run_cli, catalog: Path, tmp_path: Path) -> None:
    image = tmp_path / "new.jpg"
    image.write_bytes(_jpeg())
    tricky = 'a "quoted" \\ back\\slash\n"""\nnext line \'\'\' [[meme]]'
    result = run_cli("catalog", "add", str(catalog), str(image), tricky, "--example", "줄\n바꿈", "--tag", "t\tab")
    assert result.returncode == 0, result.stderr
    data = tomllib.loads((catalog / "catalog.toml").read_text(encoding="utf-8"))
    added = data["meme"][1]
    assert added["caption"] == " ".join(tricky.split())
    assert added["examples"] == ["줄 바꿈"] and added["tags"] == ["t ab"]
    assert run_cli("recommend", "--catalog", str(catalog), "줄 바꿈").returncode == 0


@pytest.mark.parametrize(("make", "key"), [
    (lambda: png_claiming(30000, 30000), "image.too_many_pixels"),  # a decompression bomb
    (lambda: png_claiming(5000, 4000), "image.too_many_pixels"),  # within Pillow's limit, over ours
    (lambda: truncated(_jpeg((640, 480))), "catalog.bad_image"),
])
def test_catalog_add_refuses_bombs_and_truncated_pictures(run_cli, catalog: Path, tmp_path: Path, make,
                                                          key: str) -> None:
    image = tmp_path / ("new.png" if key.startswith("image") else "new.jpg")
    image.write_bytes(make())
    before = (catalog / "catalog.toml").read_text(encoding="utf-8")
    result = run_cli("catalog", "add", str(catalog), str(image), "새 짤")
    _one_line(result)
    assert render(key, "ko", path=str(image), limit_mp="?").split("?")[0] in result.stderr
    _unchanged(catalog, before)


@pytest.mark.parametrize("body", ['meme = "not tables"\n', "meme = [1, 2]\n", "[meme]\nid = 'x'\n"])
def test_a_catalog_whose_meme_is_not_tables(run_cli, tmp_path: Path, body: str) -> None:
    (tmp_path / "catalog.toml").write_text(body, encoding="utf-8")
    result = run_cli("catalog", "build", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "[[meme]]" in result.stderr


def test_run_with_a_truncated_picture_in_the_catalog_exits_2(run_cli, cli_env: dict[str, str], catalog: Path) -> None:
    """It used to print a traceback and hang."""
    (catalog / "images" / "first.jpg").write_bytes(truncated(_jpeg((640, 480))))
    cli_env.update(FFFUSION_CATALOG=str(catalog), FFFUSION_WORKERS="1", FFFUSION_KAKAO_SECRET="s" * 24,
                   FFFUSION_PUBLIC_URL="http://127.0.0.1", FFFUSION_HTTP_HOST="127.0.0.1", FFFUSION_HTTP_PORT="0")
    result = run_cli("run", timeout=240)
    _one_line(result, "catalog.bad_image", path=f"{catalog / 'catalog.toml'}:1")
