"""A subtitle's lines as data: what the catalog reads and the studio edits, without the drawing (core/subtitle.py),
so the bot side reads a catalog without loading OpenCV."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: line colours when the catalog names none: white, the show's yellow, sky blue, pink, in turn
PALETTE: tuple[tuple[int, int, int], ...] = ((255, 255, 255), (255, 226, 61), (120, 220, 255), (255, 150, 200))
COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class Line:
    text: str
    color: tuple[int, int, int] = PALETTE[0]


def parse_color(value: str) -> tuple[int, int, int] | None:
    """'#RRGGBB' -> (r, g, b); None for anything else."""
    if not COLOR_RE.match(value):
        return None
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def color_hex(color: tuple[int, int, int]) -> str:
    return "#{:02X}{:02X}{:02X}".format(*color)


def default_lines(texts: Sequence[str]) -> tuple[Line, ...]:
    """Plain sentences as subtitle lines in the palette's colours, in turn."""
    return tuple(Line(t, PALETTE[i % len(PALETTE)]) for i, t in enumerate(texts) if t.strip())
