"""Hostile image files built in memory: a header that lies about its size, a file cut short."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims a huge picture: must be refused from the header, never decoded."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    png = bytearray(out.getvalue())
    ihdr = png[12:29]  # type + data of the first chunk
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


def truncated(jpeg: bytes) -> bytes:
    """The first half of a JPEG: its header is fine, its picture ends half-way."""
    return jpeg[: len(jpeg) // 2]
