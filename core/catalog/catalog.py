"""The meme catalog: a folder a person writes by hand and keeps in git.

    <dir>/catalog.toml     one [[meme]] table per meme (see data/README.md)
    <dir>/images/...       the images it names (or `package:<module>/<path>` for an image that ships
                           inside an installed package, optionally cropped)

Loading validates every entry and reports all the bad ones at once, each with its file and line.
"""

from __future__ import annotations

import io
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from core.clips import MOTIONS
from core.clips.media import Clip, check_clip, decode_clip, is_clip, probe
from core.errors import InputError
from core.limits import Limits
from core.lines import PALETTE, Line, parse_color

CATALOG_FILE = "catalog.toml"
PACKAGE_PREFIX = "package:"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_HEADER_RE = re.compile(r"^\s*\[\[\s*meme\s*\]\]")
#: the feelings a meme's `tone` may name (data/README.md; core/recommend/tone.py learns them)
FEELINGS = ("joy", "pride", "sadness", "anger", "embarrassment", "worry", "shock", "tiredness", "mockery")


@dataclass(frozen=True)
class Meme:
    id: str
    caption: str
    image: str = ""  # as written in the catalog: a path relative to the catalog, or package:...
    examples: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    #: indices (largest face first) of the faces to swap by default; empty = the largest
    faces: tuple[int, ...] = ()
    crop: tuple[int, int, int, int] | None = None  # x, y, width, height
    subtitle: tuple[Line, ...] = ()  # 자막 drawn on the result (core/subtitle.py)
    #: the meme's feeling (one of FEELINGS); None: inferred from its caption (core/recommend/tone.py)
    tone: str | None = None
    #: a camera move (core.clips.MOTIONS) that makes the still an animated meme; a clip file is one already
    animation: str | None = None
    where: str = ""  # "file:line" for messages

    @property
    def texts(self) -> tuple[str, ...]:
        """Everything a sentence is matched against: the caption and the example sentences."""
        return (self.caption, *self.examples)


@dataclass
class Catalog:
    root: Path | None
    memes: list[Meme]
    by_id: dict[str, Meme] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {m.id: m for m in self.memes}

    def image_bytes(self, meme: Meme) -> bytes:
        """The meme's image file, cropped as the catalog says (crops are re-encoded losslessly); for a clip, its
        key frame (losslessly): every still's path (faces, thumbnails, a still result) works on that."""
        data = _read_reference(self.root, meme.image)
        if is_clip(data):
            out = io.BytesIO()
            Image.fromarray(decode_clip(data, Limits()).key_frame).save(out, "PNG")
            return out.getvalue()
        if meme.crop is None:
            return data
        with Image.open(io.BytesIO(data)) as img:
            x, y, w, h = meme.crop
            out = io.BytesIO()
            img.convert("RGB").crop((x, y, x + w, y + h)).save(out, "PNG")
            return out.getvalue()


    def is_animated(self, meme: Meme) -> bool:
        return meme.animation is not None or is_clip(_read_reference(self.root, meme.image))

    def clip(self, meme: Meme, limits: Limits, focus: tuple[float, float, float] | None = None,
             still_motion: str | None = None) -> Clip | None:
        """The meme's animation: its clip file decoded, or its still moved by the camera its `animation` names
        (else `still_motion`; None: a still stays a still), toward `focus` ((x, y, size) of the face, in the
        still's pixels)."""
        motion_name = meme.animation or (None if is_clip(_read_reference(self.root, meme.image)) else still_motion)
        if motion_name is not None:
            from core.clips import motion  # OpenCV: only where an animation is made
            from core.images import decode_image

            still = decode_image(self.image_bytes(meme), limits)
            return motion.animate(still, motion_name, motion.SECONDS, motion.FPS, limits.clip_side, focus)
        data = _read_reference(self.root, meme.image)
        return decode_clip(data, limits) if is_clip(data) else None


def _read_reference(root: Path | None, ref: str) -> bytes:
    if ref.startswith(PACKAGE_PREFIX):
        module, _, inner = ref[len(PACKAGE_PREFIX) :].partition("/")
        return resources.files(module).joinpath(inner).read_bytes()
    if root is None:
        raise FileNotFoundError(ref)
    return (root / ref).read_bytes()


def _header_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), 1) if _HEADER_RE.match(line)]


def _check_image(root: Path, ref: str, crop: tuple[int, int, int, int] | None) -> str | None:
    try:
        data = _read_reference(root, ref)
    except (OSError, ModuleNotFoundError, ValueError):
        return f"image not found: {ref}"
    return check_image_bytes(data, ref, crop)


def check_image_bytes(data: bytes, ref: str, crop: tuple[int, int, int, int] | None = None) -> str | None:
    """Why these bytes cannot be a meme image (None when they can), from the header and a verify pass (a
    clip's headers and its limits, at their defaults)."""
    if is_clip(data):
        if crop is not None:
            return f"crop applies to stills only: {ref}"
        try:
            check_clip(probe(data), Limits())
        except InputError as err:
            return f"clip cannot be used ({err}): {ref}"
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            img.verify()
    except Image.DecompressionBombError:
        return f"image has too many pixels: {ref}"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return f"image is not a readable picture: {ref}"
    if crop is not None:
        x, y, w, h = crop
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            return f"crop {list(crop)} is outside the {width}x{height} image"
    return None


def _strings(raw: object, name: str, problems: list[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        problems.append(f"'{name}' must be a list of strings")
        return ()
    return tuple(s.strip() for s in raw if s.strip())


def _subtitle_line(item: object, index: int) -> Line | None:
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict) or set(item) - {"text", "color"}:
        return None
    text, color = item.get("text"), item.get("color")
    rgb = PALETTE[index % len(PALETTE)] if color is None else parse_color(color) if isinstance(color, str) else None
    if not isinstance(text, str) or not text.strip() or rgb is None:
        return None
    return Line(" ".join(text.split()), rgb)


def _subtitle(raw: object, problems: list[str]) -> tuple[Line, ...]:
    """`subtitle = ["줄", { text = "줄", color = "#FFE23D" }]`: a line without a colour takes the palette's."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("'subtitle' must be a list of lines")
        return ()
    lines = [_subtitle_line(item, i) for i, item in enumerate(raw)]
    problems.extend(
        f'subtitle line {i}: a string, or {{ text = "...", color = "#RRGGBB" }}'
        for i, line in enumerate(lines, 1) if line is None
    )
    return tuple(line for line in lines if line is not None)


def _parse_entry(raw: dict[str, Any], root: Path, check_images: bool) -> tuple[Meme | None, list[str]]:
    problems: list[str] = []
    meme_id = raw.get("id")
    if not isinstance(meme_id, str) or not ID_RE.match(meme_id):
        problems.append("missing or bad 'id' (letters, digits, '-' or '_', up to 64)")
    caption = raw.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        problems.append("empty caption")
    image = raw.get("image")
    if not isinstance(image, str) or not image.strip():
        problems.append("missing 'image'")
    crop = raw.get("crop")
    if crop is not None and not (
        isinstance(crop, list) and len(crop) == 4 and all(isinstance(v, int) for v in crop)
    ):
        problems.append("'crop' must be [x, y, width, height] in pixels")
        crop = None
    faces = raw.get("faces", [])
    if not isinstance(faces, list) or not all(isinstance(v, int) and v >= 0 for v in faces):
        problems.append("'faces' must be a list of face numbers (0 = largest)")
        faces = []
    examples = _strings(raw.get("examples"), "examples", problems)
    tags = _strings(raw.get("tags"), "tags", problems)
    subtitle = _subtitle(raw.get("subtitle"), problems)
    tone = raw.get("tone")
    if tone is not None and tone not in FEELINGS:
        problems.append(f"'tone' must be one of: {', '.join(FEELINGS)}")
    animation = raw.get("animation")
    if animation is not None and animation not in MOTIONS:
        problems.append(f"'animation' must be one of: {', '.join(MOTIONS)}")
    known = {"id", "caption", "image", "crop", "faces", "examples", "tags", "subtitle", "tone", "animation"}
    unknown = sorted(set(raw) - known)
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    if check_images and isinstance(image, str) and image.strip():
        error = _check_image(root, image, tuple(crop) if crop else None)
        if error:
            problems.append(error)
    if problems or not (isinstance(meme_id, str) and isinstance(caption, str) and isinstance(image, str)):
        return None, problems
    return Meme(
        id=meme_id,
        caption=" ".join(caption.split()),
        image=image,
        examples=examples,
        tags=tags,
        faces=tuple(faces),
        crop=tuple(crop) if crop else None,
        subtitle=subtitle,
        tone=tone,
        animation=animation,
    ), []


def load_catalog(directory: Path, check_images: bool = True) -> Catalog:
    path = Path(directory) / CATALOG_FILE
    if not path.is_file():
        raise InputError("catalog.missing", path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError):
        raise InputError("file.unreadable", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise invalid_catalog([f"{path}: {exc}"]) from None
    entries = data.get("meme", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise invalid_catalog([f"{path}: 'meme' must be [[meme]] tables"])
    lines = _header_lines(text)
    memes: list[Meme] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(entries):
        where = f"{path}:{lines[index] if index < len(lines) else '?'}"
        meme, problems = _parse_entry(raw, path.parent, check_images)
        if meme is not None and meme.id in seen:
            problems = [f"duplicate id '{meme.id}' (first at {seen[meme.id]})"]
        errors.extend(f"{where}: {p}" for p in problems)
        if meme is not None and not problems:
            seen[meme.id] = where
            memes.append(Meme(**{**meme.__dict__, "where": where}))
    if errors:
        raise invalid_catalog(errors)
    if not memes:
        raise InputError("catalog.empty", path=str(path))
    return Catalog(root=path.parent, memes=memes)


def load_captions(file: Path) -> Catalog:
    """A plain list of captions, one a line; ids are 0-based line numbers (no images)."""
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise InputError("file.unreadable", path=str(file)) from None
    blank = [f"{file}:{n}: empty caption" for n, line in enumerate(lines, 1) if not line.strip()]
    if blank:
        raise invalid_catalog(blank)
    if not lines:
        raise InputError("catalog.empty", path=str(file))
    return Catalog(root=None, memes=[Meme(id=str(i), caption=line.strip()) for i, line in enumerate(lines)])


def invalid_catalog(details: Sequence[str]) -> InputError:
    return InputError(
        "catalog.invalid",
        count=len(details),
        plural="y" if len(details) == 1 else "ies",
        details="\n".join(details),
    )
