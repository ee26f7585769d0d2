"""자막: the big, bold, outlined subtitle of a Korean variety show, drawn on a result.

A heavy Korean face (Noto Sans CJK KR Black, from the `manimgx-fonts-cjk` package: docs/DESIGN.md, "자막"), a
colour per line, a thick dark outline and a drop shadow, sized to the picture's width, wrapped at spaces (a
Korean word is never broken unless it alone is wider than the picture), and placed where it covers no face.

A subtitle is laid out once into an `Overlay` (the only costly step: glyphs, outline, shadow) and cached by
everything it depends on, so a meme's own subtitle costs a blend of its box per result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.bounded import Bounded
from core.images import upscale
from core.limits import Limits
from core.lines import PALETTE, Line, default_lines

FONT_PACKAGE = "manimgx_fonts_cjk"
FONT_FILE = "NotoSansCJK-VF.otf.ttc"
FONT_INDEX = 1  # the collection's members: JP, KR, SC, TC, HK; KR has Korean punctuation and spacing
FONT_WEIGHT = b"Black"

OUTLINE = (12, 12, 12)
_SQUARE = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))

# Proportions of the picture's width, chosen by eye on the demo catalog at 640 px (README's contact sheet).
_MAX_SIZE = 0.085  # the largest letters: ~54 px at 640
_MIN_SIZE = 0.032  # the smallest before a word is broken: ~20 px at 640
_SIDE_MARGIN = 0.04
_STROKE = 0.13  # outline width as a share of the letter size
_SHADOW = 0.07  # shadow offset, likewise
_MAX_HEIGHT = 0.34  # of the picture's height: a subtitle never takes more
_MAX_ROWS = 4
_SPANS = (1.0, 0.62, 0.45, 0.33)  # shares of the width a subtitle may span, widest first
_REFERENCE = 100  # letters are measured once at this size and scaled
MARK = "FFfusion"
_MARK_SIZE = 0.026  # ~17 px at 640
_MARK_OPACITY = 0.75


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    path = resources.files(FONT_PACKAGE).joinpath(FONT_FILE)
    with resources.as_file(path) as file:
        face = ImageFont.truetype(str(file), size, index=FONT_INDEX)
    face.set_variation_by_name(FONT_WEIGHT)
    return face


@lru_cache(maxsize=4096)
def _advance(text: str) -> float:
    """The width of `text` at the reference size (scaled linearly for others; checked after rendering)."""
    return float(font(_REFERENCE).getlength(text))


@lru_cache(maxsize=1)
def _space() -> float:
    """A space's advance between two Hangul words at the reference size (in context: it differs alone)."""
    return _advance("한 글") - _advance("한글")


def _wrap(text: str, size: int, width: float) -> list[str] | None:
    """Rows of whole words no wider than `width` at `size`; None when a single word is wider. Each word is
    measured once (cached) and rows are summed arithmetically, so trying many widths costs no shaping."""
    scale = size / _REFERENCE
    space = _space() * scale
    rows: list[str] = []
    used = 0.0
    for word in text.split():
        advance = _advance(word) * scale
        if advance > width:
            return None
        if rows and used + space + advance <= width:
            rows[-1] = f"{rows[-1]} {word}"
            used += space + advance
        else:
            rows.append(word)
            used = advance
    return rows


def _balanced(text: str, size: int, width: float) -> list[str] | None:
    """_wrap() into as few rows, as even as they go: the narrowest width that still needs no more rows, so a
    two-row subtitle never ends on one lonely word."""
    rows = _wrap(text, size, width)
    if rows is None or len(rows) < 2:
        return rows
    low, high = width / len(rows), width
    while high - low > 2:
        middle = (low + high) / 2
        tried = _wrap(text, size, middle)
        if tried is not None and len(tried) <= len(rows):
            high = middle
        else:
            low = middle
    return _wrap(text, size, high)


def _break_word(word: str, size: int, width: float) -> list[str]:
    """A word wider than the picture at the smallest size, in pieces by letter: the last resort."""
    scale, pieces = size / _REFERENCE, [""]
    for char in word:
        if pieces[-1] and _advance(pieces[-1] + char) * scale > width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def fit(
    lines: Sequence[Line], width: int, height: int, span: float = 1.0
) -> tuple[int, list[tuple[str, tuple[int, int, int]]]]:
    """The largest letter size at which every line wraps into the allowed rows and height within `span` of
    the picture's width, and the rows."""
    text_width = width * (span - 2 * _SIDE_MARGIN)
    biggest = max(12, round(width * _MAX_SIZE))
    smallest = min(biggest, max(12, round(width * _MIN_SIZE)))
    for size in range(biggest, smallest - 1, -max(1, biggest // 40)):
        stroke = _stroke(size)
        rows: list[tuple[str, tuple[int, int, int]]] = []
        for line in lines:
            wrapped = _balanced(line.text, size, text_width - 2 * stroke)
            if wrapped is None:
                break
            rows.extend((row, line.color) for row in wrapped)
        else:
            if len(rows) <= _MAX_ROWS and _block_height(size, len(rows)) <= height * _MAX_HEIGHT:
                return size, rows
    size = smallest
    rows = []
    for line in lines:  # at the smallest size: words wider than the picture are broken, rows beyond are kept
        for word_row in _wrap_breaking(line.text, size, text_width - 2 * _stroke(size)):
            rows.append((word_row, line.color))
    return size, rows


def _wrap_breaking(text: str, size: int, width: float) -> list[str]:
    words: list[str] = []
    for word in text.split():
        words.extend(_break_word(word, size, width) if _advance(word) * size / _REFERENCE > width else [word])
    return _wrap(" ".join(words), size, width) or []


def _stroke(size: int) -> int:
    return max(2, round(size * _STROKE))


def _row_height(size: int) -> int:
    return round(size * 1.22)


def _block_height(size: int, rows: int) -> int:
    return _row_height(size) * rows + 2 * _stroke(size) + 2 * max(1, round(size * _SHADOW)) + 2


@dataclass(frozen=True)
class Overlay:
    """A laid-out subtitle: blend its `keep` (how much of the picture stays) and `paint` (what is added) into
    the picture at (x, y). Nothing outside that box changes."""

    x: int
    y: int
    keep: np.ndarray  # (h, w, 3) uint8: 255 = the picture shows through
    paint: np.ndarray  # (h, w, 3) uint8: the colour added (premultiplied)

    @property
    def box(self) -> tuple[int, int, int, int]:
        height, width = self.keep.shape[:2]
        return self.x, self.y, self.x + width, self.y + height


Box = tuple[float, float, float, float]


def _render(rows: Sequence[tuple[str, tuple[int, int, int]]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """keep and paint of the block: glyphs in their row's colour over a thick outline and a shadow, trimmed to
    what is drawn. The outline is the glyph mask grown by a disc (one dilation, cheaper than stroked text).
    Each row is shaped and drawn once; the blend is computed in bytes (no float copies)."""
    stroke, shadow, row_h = _stroke(size), max(1, round(size * _SHADOW)), _row_height(size)
    pad = stroke + shadow + 2
    inks = [_row_ink(text, size) for text, _ in rows]
    width, height = max(ink.shape[1] for ink, _ in inks) + 2 * pad, row_h * len(rows) + 2 * pad
    glyph = np.zeros((height, width), np.uint8)
    bands: list[tuple[int, int, tuple[int, int, int]]] = []
    for i, ((ink, below), (_, color)) in enumerate(zip(inks, rows, strict=True)):
        top = pad + i * row_h
        y, x = top + below, (width - ink.shape[1]) // 2  # the ink centred, not the advance
        y1, y2 = max(0, y), min(height, y + ink.shape[0])
        region = glyph[y1:y2, x : x + ink.shape[1]]
        np.maximum(region, ink[y1 - y : y2 - y], out=region)
        bands.append((0 if i == 0 else top, height if i == len(rows) - 1 else top + row_h, color))
    outline = _grow(glyph, stroke)
    cast = np.zeros_like(outline)
    cast[shadow:, shadow:] = outline[:-shadow, :-shadow]
    dark = np.maximum(outline, cv2.convertScaleAbs(cast, alpha=0.55))
    rows_drawn, cols_drawn = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    y1, y2 = max(0, rows_drawn[0] - 1), min(height, rows_drawn[-1] + 2)
    x1, x2 = max(0, cols_drawn[0] - 1), min(width, cols_drawn[-1] + 2)
    g = np.ascontiguousarray(glyph[y1:y2, x1:x2])
    under = cv2.multiply(dark[y1:y2, x1:x2], 255 - g, scale=1 / 255)  # outline and shadow where no letter is
    keep = cv2.subtract(255 - g, under)  # under <= 255 - g, so this never saturates
    letters = cv2.merge([g] * 3)
    for start, end, color in bands:  # each row's band of the block takes its colour (bands are contiguous)
        band = letters[max(0, start - y1) : max(0, end - y1)]
        cv2.multiply(band, color, dst=band, scale=1 / 255)
    paint = cv2.add(cv2.multiply(cv2.merge([under] * 3), OUTLINE, scale=1 / 255), letters)
    return cv2.merge([keep] * 3), paint


def _row_ink(text: str, size: int) -> tuple[np.ndarray, int]:
    """A row's glyphs drawn once on a canvas with room to spare, cropped to their ink, and how far below the
    row's top that ink starts: the baseline goes where the Hangul's ink is centred in the row, so rows line up
    alike whatever letters they hold. Cropping the drawing saves measuring the row's ink box beforehand."""
    room, row_h = size, _row_height(size)
    advance = sum(_advance(word) for word in text.split()) + _space() * text.count(" ")
    canvas = Image.new("L", (round(advance * size / _REFERENCE) + 2 * room, row_h + 2 * room), 0)
    ImageDraw.Draw(canvas).text((room, room + row_h / 2 - _middle(size)), text, font=font(size), fill=255,
                                anchor="ls")
    drawn = np.asarray(canvas)
    ys, xs = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    if not len(ys):  # nothing visible in the row
        return np.zeros((1, 1), np.uint8), 0
    return drawn[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1], int(ys[0]) - room


@lru_cache(maxsize=64)
def _middle(size: int) -> float:
    """Half-way up the Hangul's ink above the baseline at `size`: where a row's middle goes."""
    _, ink_top, _, ink_bottom = font(size).getbbox("한글", anchor="ls")
    return (ink_top + ink_bottom) / 2


def _bytes(values: np.ndarray) -> np.ndarray:
    """0..255 floats (by construction: no clipping needed) rounded to bytes."""
    return np.ascontiguousarray((values + 0.5).astype(np.uint8))


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """The mask grown by an octagon of `radius` (a 3x3 square then a 3x3 cross, repeated: a near-disc at a
    fraction of a disc kernel's cost)."""
    square = round(radius * 0.41)
    grown = cv2.dilate(mask, _SQUARE, iterations=square) if square else mask
    return cv2.dilate(grown, _CROSS, iterations=radius - square) if radius > square else grown


def _overlap(box: Box, faces: Sequence[Box]) -> float:
    x1, y1, x2, y2 = box
    total = 0.0
    for fx1, fy1, fx2, fy2 in faces:
        total += max(0.0, min(x2, fx2) - max(x1, fx1)) * max(0.0, min(y2, fy2) - max(y1, fy1))
    return total


def _place(
    block_w: int, block_h: int, width: int, height: int, faces: Sequence[Box]
) -> tuple[tuple[int, int], float]:
    """Where the block goes: the bottom, as on television, unless it would cover a face; then the top; then
    any height from the bottom up, centred, then to the left or right. The first that covers no face wins
    (candidates in that fixed order, so ties never depend on the machine); else the one covering least. Returns
    the place and how much face it covers."""
    margin = round(height * 0.03)
    bottom, top = max(0, height - block_h - margin), min(margin, max(0, height - block_h))
    ys = [bottom, top, *range(bottom, top - 1, -max(1, height // 40))]
    xs = [(width - block_w) // 2, 0, max(0, width - block_w)]
    best, best_cover = (xs[0], ys[0]), float("inf")
    for x in dict.fromkeys(xs):
        for y in ys:
            cover = _overlap((x, y, x + block_w, y + block_h), faces)
            if cover == 0:
                return (x, y), 0.0
            if cover < best_cover:
                best, best_cover = (x, y), cover
    return best, best_cover


def layout(lines: Sequence[Line], width: int, height: int, faces: Sequence[Box] = ()) -> Overlay | None:
    """The subtitle laid out on a width x height picture whose faces are `faces` (x1, y1, x2, y2): across the
    width where that covers no face, else in a narrower column (smaller letters, more rows) beside them."""
    lines = [Line(" ".join(line.text.split()), line.color) for line in lines if line.text.strip()]
    if not lines or width < 32 or height < 32:
        return None
    padded = [(x1 - 4, y1 - 4, x2 + 4, y2 + 4) for x1, y1, x2, y2 in faces]
    best: tuple[float, Overlay] | None = None
    for span in _SPANS:
        size, rows = fit(lines, width, height, span)
        rows = rows[: max(1, (height - 2 * _stroke(size)) // _row_height(size))]  # never taller than the picture
        keep, paint = _render(rows, size)
        while (keep.shape[1] > width or keep.shape[0] > height) and size > 8:  # the estimate was a little short
            size -= 1
            keep, paint = _render(rows, size)
        keep, paint = keep[:height, :width], paint[:height, :width]
        (x, y), cover = _place(keep.shape[1], keep.shape[0], width, height, padded)
        if best is None or cover < best[0]:
            best = cover, Overlay(x, y, keep, paint)
        if cover == 0:
            break
    return best[1] if best else None


def mark(width: int, height: int, avoid: Sequence[Box]) -> Overlay:
    """The small "FFfusion" mark, three-quarters opaque, in the first corner that covers no face and not the
    subtitle: bottom right, top right, bottom left, top left."""
    keep, paint = _mark_block(max(11, round(width * _MARK_SIZE)))
    block_h, block_w = keep.shape[:2]
    gap = max(2, round(width * 0.01))
    right, bottom = max(0, width - block_w - gap), max(0, height - block_h - gap)
    corners = [(right, bottom), (right, gap), (gap, bottom), (gap, gap)]
    x, y = min(corners, key=lambda c: (_overlap((*c, c[0] + block_w, c[1] + block_h), avoid) > 0,
                                       corners.index(c)))
    return Overlay(x, y, keep[: height - y, : width - x], paint[: height - y, : width - x])


@lru_cache(maxsize=16)
def _mark_block(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The mark's keep and paint at `size`, drawn once: only its corner changes from result to result."""
    keep, paint = _render([(MARK, PALETTE[0])], size)
    keep = _bytes(255.0 - _MARK_OPACITY * (255.0 - keep.astype(np.float32)))
    paint = _bytes(_MARK_OPACITY * paint.astype(np.float32))
    keep.flags.writeable = paint.flags.writeable = False  # shared by every result's overlay
    return keep, paint


_overlays: Bounded[tuple[object, ...], Overlay] = Bounded(256)


def _cached(key: tuple[object, ...], make: Callable[[], Overlay | None]) -> Overlay | None:
    overlay = _overlays.get(key)
    if overlay is None:
        overlay = make()
        if overlay is not None:
            _overlays.put(key, overlay)
    return overlay


def finish(image: np.ndarray, faces: Sequence[Box], lines: Sequence[Line], limits: Limits) -> np.ndarray:
    """A result made ready to send: brought up to limits.min_output_side, its subtitle drawn where it covers
    none of `faces` (the picture's, before upscaling), and the mark unless limits.mark is off. The overlays
    are kept for the same lines, size and faces, so a meme's own subtitle is laid out once."""
    image, factor = upscale(image, limits.min_output_side)
    height, width = image.shape[:2]
    boxes: tuple[Box, ...] = tuple((round(float(face[0]) * factor), round(float(face[1]) * factor),
                                    round(float(face[2]) * factor), round(float(face[3]) * factor)) for face in faces)
    return draw(image, *overlays(width, height, boxes, lines, limits))


def overlays(
    width: int, height: int, boxes: tuple[Box, ...], lines: Sequence[Line], limits: Limits
) -> tuple[Overlay | None, Overlay | None]:
    """The 자막 and the mark for a picture of this size whose faces are `boxes` (a clip draws the same two on
    every frame)."""
    subtitle = _cached((tuple(lines), width, height, boxes), lambda: layout(lines, width, height, boxes))
    marked = None
    if limits.mark:
        avoid = (*boxes, *([subtitle.box] if subtitle else []))
        marked = _cached((MARK, width, height, avoid), lambda: mark(width, height, avoid))
    return subtitle, marked


def draw(image: np.ndarray, *overlays: Overlay | None) -> np.ndarray:
    """A copy of the RGB picture with the overlays blended in, in turn (the picture itself when there are
    none)."""
    present = [overlay for overlay in overlays if overlay is not None]
    if not present:
        return image
    out = image.copy()
    for overlay in present:
        x1, y1, x2, y2 = overlay.box
        out[y1:y2, x1:x2] = cv2.add(cv2.multiply(out[y1:y2, x1:x2], overlay.keep, scale=1 / 255), overlay.paint)
    return out


def sentence_lines(sentence: str, max_chars: int) -> tuple[Line, ...]:
    """A person's own sentence as a subtitle, cut at a word to at most `max_chars` (and '…')."""
    text = " ".join(sentence.split())
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = (cut.rsplit(" ", 1)[0] if " " in cut.strip() else cut).rstrip() + "…"
    return default_lines([text])
