"""Changing a catalog folder from code (the studio, `fffusion catalog add`): every change rewrites catalog.toml
through `write_catalog`, atomically, keeping the previous file as catalog.toml.bak, and is validated by loading
the result (a change that would not load is rolled back). `catalog_version` tells readers that it changed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.catalog.catalog import (
    CATALOG_FILE,
    ID_RE,
    PACKAGE_PREFIX,
    Catalog,
    Meme,
    invalid_catalog,
    load_catalog,
)
from core.clips.media import decode_clip, is_clip
from core.errors import InputError
from core.images import decode_image, read_file_capped
from core.limits import Limits
from core.lines import PALETTE, Line, color_hex, parse_color

BACKUP_SUFFIX = ".bak"
_HEADER = "# Meme catalog (format: data/README.md). Written by fffusion; edit by hand or in the studio.\n"
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".mp4", ".webm")


def catalog_version(directory: Path) -> str:
    """A short hash of catalog.toml: changes whenever the catalog does (images are added under new names)."""
    return version_of((Path(directory) / CATALOG_FILE).read_bytes())


def version_of(catalog_toml: bytes) -> str:
    return hashlib.sha256(catalog_toml).hexdigest()[:16]


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string, except that TOML wants DEL escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_list(values: Sequence[str | int]) -> str:
    return "[" + ", ".join(_toml_string(v) if isinstance(v, str) else str(v) for v in values) + "]"


def _entry(meme: Meme) -> str:
    lines = ["[[meme]]", f"id = {_toml_string(meme.id)}", f"image = {_toml_string(meme.image)}"]
    if meme.crop is not None:
        lines.append(f"crop = {_toml_list(meme.crop)}")
    lines.append(f"caption = {_toml_string(meme.caption)}")
    for name in ("examples", "tags", "faces"):
        if getattr(meme, name):
            lines.append(f"{name} = {_toml_list(getattr(meme, name))}")
    if meme.tone is not None:
        lines.append(f"tone = {_toml_string(meme.tone)}")
    if meme.animation is not None:
        lines.append(f"animation = {_toml_string(meme.animation)}")
    if meme.subtitle:
        lines.append(f"subtitle = [{', '.join(_subtitle_item(line, i) for i, line in enumerate(meme.subtitle))}]")
    return "\n".join(lines) + "\n"


def _subtitle_item(line: Line, index: int) -> str:
    """A line in the palette's colour for its place is written as a plain string."""
    if line.color == PALETTE[index % len(PALETTE)]:
        return _toml_string(line.text)
    return f"{{ text = {_toml_string(line.text)}, color = {_toml_string(color_hex(line.color))} }}"


def subtitle_text(lines: Sequence[Line]) -> str:
    """The studio's form of a subtitle: a line a row, "#RRGGBB " before it when it has its own colour."""
    return "\n".join(
        line.text if line.color == PALETTE[i % len(PALETTE)] else f"{color_hex(line.color)} {line.text}"
        for i, line in enumerate(lines)
    )


def parse_subtitle_text(rows: Sequence[str]) -> tuple[Line, ...]:
    """subtitle_text() read back; a row that starts with "#RRGGBB " takes that colour."""
    lines: list[Line] = []
    for row in _clean(rows):
        head, _, rest = row.partition(" ")
        color = parse_color(head) if rest.strip() else None
        text = rest.strip() if color else row
        lines.append(Line(text, color or PALETTE[len(lines) % len(PALETTE)]))
    return tuple(lines)


def _leading_comments(path: Path) -> str:
    """The comment block a person wrote above the first entry, kept across rewrites."""
    if not path.is_file():
        return _HEADER
    head = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        head.append(line)
    text = "\n".join(head).strip("\n")
    return text + "\n" if text else _HEADER


def write_catalog(directory: Path, memes: Sequence[Meme]) -> Catalog:
    """Replace catalog.toml with these memes: the new file appears whole or not at all, the old one stays as
    catalog.toml.bak, and a result that does not load is rolled back (its InputError raised)."""
    directory = Path(directory)
    path = directory / CATALOG_FILE
    text = _leading_comments(path) + "".join("\n" + _entry(m) for m in memes)
    partial = path.with_name(f".{CATALOG_FILE}.partial")
    with partial.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    backup = path.with_name(CATALOG_FILE + BACKUP_SUFFIX)
    had_file = path.is_file()
    if had_file:
        shutil.copy2(path, backup)
    os.replace(partial, path)
    try:
        return load_catalog(directory)
    except InputError:
        if had_file:
            shutil.copy2(backup, path)
        else:
            path.unlink()
        raise


def _current(directory: Path) -> list[Meme]:
    return list(load_catalog(directory).memes) if (Path(directory) / CATALOG_FILE).exists() else []


def _clean_text(value: str) -> str:
    """One line of text for the catalog: whitespace runs (newlines too) become one space; other control
    characters and unpaired surrogates are refused, since no one means them in a caption."""
    text = " ".join(value.split())
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise InputError("catalog.bad_text", text=ascii(value)[:80])
    return text


def _clean(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(t for t in map(_clean_text, values) if t)


def _check_picture(data: bytes, label: str, limits: Limits) -> None:
    """Decode the whole picture, as the workers will: a truncated or corrupt file, or one over the limits,
    is refused now rather than break the catalog for everyone later."""
    try:
        if is_clip(data):
            decode_clip(data, limits)
        else:
            decode_image(data, limits)
    except InputError as err:
        if err.key in ("image.not_image", "image.truncated"):
            raise InputError("catalog.bad_image", path=label) from None
        raise


def update_meme(
    directory: Path,
    meme_id: str,
    caption: str,
    examples: Sequence[str] = (),
    tags: Sequence[str] = (),
    faces: Sequence[int] = (),
    subtitle: Sequence[Line] | None = None,
) -> Catalog:
    """A meme's texts and faces; `subtitle` None keeps the one it has."""
    memes = _current(directory)
    index = next((i for i, m in enumerate(memes) if m.id == meme_id), None)
    if index is None:
        raise InputError("catalog.no_such_meme", name=meme_id)
    caption = _clean_text(caption)
    if not caption:
        raise invalid_catalog([f"{meme_id}: empty caption"])
    memes[index] = dataclasses.replace(
        memes[index], caption=caption, examples=_clean(examples), tags=_clean(tags),
        faces=tuple(dict.fromkeys(faces)),
        subtitle=memes[index].subtitle if subtitle is None else tuple(subtitle),
    )
    return write_catalog(directory, memes)


def delete_meme(directory: Path, meme_id: str) -> Catalog:
    """The entry goes, and its image file with it once the new catalog is written, unless another meme still
    uses that file or it lies outside the catalog's folder (a package's picture, a shared folder)."""
    memes = _current(directory)
    kept = [m for m in memes if m.id != meme_id]
    if len(kept) == len(memes):
        raise InputError("catalog.no_such_meme", name=meme_id)
    if not kept:
        raise InputError("catalog.last_meme")
    gone = next(m for m in memes if m.id == meme_id)
    catalog = write_catalog(directory, kept)
    if gone.image.startswith(PACKAGE_PREFIX) or gone.image in {m.image for m in kept}:
        return catalog
    root = Path(directory).resolve()
    image = (root / gone.image).resolve()
    if image.is_relative_to(root):
        image.unlink(missing_ok=True)
    return catalog


@dataclass(frozen=True)
class NewMeme:
    filename: str  # the uploaded or copied file's name: its stem becomes the id, its suffix the image's
    data: bytes
    caption: str
    examples: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    meme_id: str | None = None


def id_from_filename(name: str) -> str:
    return _BAD_ID_CHARS.sub("-", Path(name).stem).strip("-")[:64] or "meme"


def _new_id(item: NewMeme, taken: set[str]) -> str:
    if item.meme_id:
        if item.meme_id in taken:
            raise InputError("catalog.image_exists", name=item.meme_id)
        return item.meme_id
    base = id_from_filename(item.filename)[:60]
    meme_id, n = base, 2
    while meme_id in taken:
        meme_id, n = f"{base}-{n}", n + 1
    return meme_id


def add_memes(directory: Path, items: Sequence[NewMeme], limits: Limits | None = None) -> list[Meme]:
    """Save each image under images/<id><suffix> and append its entry, all in one catalog write. Every item
    is checked first (caption, id, a readable picture within the limits); nothing is written when one is bad."""
    limits = limits or Limits()
    directory = Path(directory)
    memes = _current(directory)
    taken = {m.id for m in memes}
    staged: list[tuple[Path, Meme, bytes]] = []
    problems: list[str] = []
    for item in items:
        meme_id = _new_id(item, taken)
        suffix = Path(item.filename).suffix.lower()
        suffix = suffix if suffix in _IMAGE_SUFFIXES else ".img"
        target = directory / "images" / f"{meme_id}{suffix}"
        if target.exists():
            raise InputError("catalog.image_exists", name=str(target))
        label = item.filename or meme_id
        caption = _clean_text(item.caption)
        if not caption:
            problems.append(f"{label}: empty caption")
        if not ID_RE.match(meme_id):
            problems.append(f"{label}: bad id '{meme_id}'")
        _check_picture(item.data, label, limits)
        taken.add(meme_id)
        meme = Meme(id=meme_id, caption=caption, image=target.relative_to(directory).as_posix(),
                    examples=_clean(item.examples), tags=_clean(item.tags))
        staged.append((target, meme, item.data))
    if problems:
        raise invalid_catalog(problems)
    for target, _, data in staged:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    try:
        catalog = write_catalog(directory, [*memes, *(m for _, m, _ in staged)])
    except InputError:
        for target, _, _ in staged:
            target.unlink(missing_ok=True)
        raise
    return [catalog.by_id[m.id] for _, m, _ in staged]


def add_meme(
    directory: Path,
    image: Path,
    caption: str,
    meme_id: str | None = None,
    examples: Sequence[str] = (),
    tags: Sequence[str] = (),
    limits: Limits | None = None,
) -> Meme:
    """Copy IMAGE into the catalog's images/ and append its entry (`fffusion catalog add`)."""
    limits = limits or Limits()
    # an id taken already is an error here, where the uploads of the studio get a fresh one
    meme_id = meme_id or id_from_filename(image.name)
    data = read_file_capped(image, max(limits.max_image_bytes, limits.clip_max_bytes))
    item = NewMeme(str(image), data, caption, tuple(examples), tuple(tags), meme_id)
    return add_memes(directory, [item], limits)[0]

