"""Safe image input and output shared by the CLI, the catalog and the service.

Sizes are checked before any work: bytes first, then the pixel count from the header, and only then is the
image decoded, fully (a truncated file is an error, never a half-grey picture).
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, PngImagePlugin

from core.errors import InputError
from core.limits import Limits
from core.provenance import PNG_XMP_KEY, XMP

# Pillow's default, stated here because a library that flips it would let truncated uploads through.
ImageFile.LOAD_TRUNCATED_IMAGES = False

FORMATS: dict[str, str] = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_MB = 1024 * 1024


def too_big(size: int, limit: int) -> InputError:
    """The error for a file of `size` bytes over a `limit` of bytes."""
    return InputError("image.too_big_bytes", size_mb=f"{size / _MB:.1f}", limit_mb=f"{limit / _MB:.0f}")


def check_size(size: int, limits: Limits) -> None:
    """Refuse a file from its size alone: every entry point calls this before downloading or reading."""
    if size > limits.max_image_bytes:
        raise too_big(size, limits.max_image_bytes)


def check_pixels(width: int, height: int, limits: Limits, fmt: str | None = "JPEG") -> None:
    """The pixel limit: max_image_pixels for JPEG (decoded at a reduced scale), max_full_decode_pixels for
    formats that can only be decoded whole (PNG, WebP, GIF...), so no allowed photo costs a worker much."""
    limit = limits.max_image_pixels if fmt == "JPEG" else min(limits.max_image_pixels, limits.max_full_decode_pixels)
    if width * height > limit:
        raise InputError("image.too_many_pixels", limit_mp=f"{limit / 1e6:.0f}")


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """Bytes of any common image format -> (H, W, 3) uint8 RGB, upright, first frame only."""
    check_size(len(data), limits)
    if not data:
        raise InputError("image.not_image")
    try:
        # open() reads the header only; Pillow itself refuses absurd sizes here (DecompressionBombError).
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise InputError("image.too_many_pixels", limit_mp=_megapixels(limits)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InputError("image.not_image") from err
    with image:
        check_pixels(*image.size, limits, image.format)
        try:
            image.seek(0)  # animated GIF/WebP/PNG: the first frame
            factor = _shrink_factor(image.width * image.height, limits.max_decode_pixels)
            if factor > 1:
                # JPEG decodes straight at 1/2, 1/4 or 1/8 scale, so the full picture never exists in memory
                image.draft(image.mode, (image.width // factor, image.height // factor))
            image.load()
            small = _reduced(image, limits.max_decode_pixels)
            if small.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                small = ImageOps.exif_transpose(small)  # a copy: only when the photo must be turned
            return to_rgb(small)
        except Image.DecompressionBombError:
            raise InputError("image.too_many_pixels", limit_mp=_megapixels(limits)) from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as err:
            raise InputError("image.truncated") from err


def _shrink_factor(pixels: int, max_pixels: int) -> int:
    """The smallest integer factor that brings a picture of `pixels` within max_pixels per side squared."""
    factor = 1
    while pixels > max_pixels * factor * factor:
        factor += 1
    return factor


def _reduced(image: Image.Image, max_pixels: int) -> Image.Image:
    """A decoded picture over max_pixels shrunk right away by an integer factor (box filter, cheap), before
    any copy of it is made; a photo is never worked on beyond that size anyway."""
    factor = _shrink_factor(image.width * image.height, max_pixels)
    if factor == 1:
        return image
    if image.mode.startswith("I;16"):
        image = image.convert("I")  # 16-bit grey: Pillow reduces 32-bit integers, not 16
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK", "YCbCr"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    reduced = image.reduce(factor)
    reduced.info = image.info  # EXIF orientation still applies
    return reduced


def read_file_capped(path: Path | str, max_bytes: int) -> bytes:
    """A regular file's bytes, never reading more than max_bytes + 1 whatever its size claims.

    A FIFO, a device (/dev/zero) or a directory is refused without blocking: the file is opened non-blocking
    and checked on the open descriptor, so it cannot be swapped between the check and the read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise InputError("file.unreadable", path=str(path)) from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("file.not_regular", path=str(path))
        data = bytearray()
        while len(data) <= max_bytes and (chunk := os.read(fd, min(1 << 20, max_bytes + 1 - len(data)))):
            data += chunk
    except OSError as err:
        raise InputError("file.unreadable", path=str(path)) from err
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise too_big(max(len(data), info.st_size), max_bytes)
    return bytes(data)


def read_image_file(path: Path, limits: Limits) -> np.ndarray:
    """A file on disk -> RGB; read with a byte cap, never beyond it."""
    return decode_image(read_file_capped(path, limits.max_image_bytes), limits)


def format_for_path(path: Path | str) -> str:
    """'jpeg' | 'png' | 'webp' from the file name's extension."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError("image.output_format", path=str(path), supported=", ".join(sorted(FORMATS)))
    return fmt


def encode_image(
    rgb: np.ndarray,
    fmt: str,
    quality: int = 90,
    max_side: int | None = None,
    max_bytes: int | None = None,
    provenance: bool = False,
) -> bytes:
    """RGB -> file bytes. Shrinks to max_side; to meet max_bytes lowers quality first, then the size.
    `provenance`: the file carries core.provenance's XMP packet (every result the bot made)."""
    if fmt not in _PIL_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}")
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    lossy = fmt != "png"
    while True:
        data = _save(image, fmt, quality, XMP if provenance else None)
        if max_bytes is None or len(data) <= max_bytes or max(image.size) <= 64:
            return data
        if lossy and quality > 60:
            quality -= 10
            continue
        image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)), Image.Resampling.LANCZOS)


def _save(image: Image.Image, fmt: str, quality: int, xmp: bytes | None) -> bytes:
    out = io.BytesIO()
    if fmt == "png":
        info = None
        if xmp:
            info = PngImagePlugin.PngInfo()
            info.add_itxt(PNG_XMP_KEY, xmp.decode("utf-8"))
        image.save(out, "PNG", optimize=False, compress_level=6, pnginfo=info)
    elif fmt == "jpeg":
        image.save(out, "JPEG", quality=quality, optimize=True, **({"xmp": xmp} if xmp else {}))
    else:
        image.save(out, "WEBP", quality=quality, method=4, **({"xmp": xmp} if xmp else {}))
    return out.getvalue()


def upscale(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """A picture smaller than `long_side` brought up to it, and the factor. Lanczos keeps edges crisp where
    bilinear would blur them; a gentle unsharp mask restores what the interpolation softens."""
    height, width = rgb.shape[:2]
    factor = long_side / max(height, width)
    if factor <= 1.0:
        return rgb, 1.0
    size = (round(width * factor), round(height * factor))
    import cv2  # here, not at the top: the bot side checks and reads images without loading OpenCV

    big = cv2.resize(rgb, size, interpolation=cv2.INTER_LANCZOS4)
    soft = cv2.GaussianBlur(big, (0, 0), sigmaX=0.8 * factor)
    return cv2.addWeighted(big, 1.35, soft, -0.35, 0), factor


def to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greyscale: Pillow's convert() would clip to white; scale to 8 bits instead.
        grey = np.asarray(image, dtype=np.float64)
        top = grey.max(initial=0.0)
        scale = 255.0 / (65535.0 if top > 255 else max(top, 255.0))
        grey = np.clip(grey * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        # Transparent areas become white, as chat apps show them.
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return np.ascontiguousarray(np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8))


def _megapixels(limits: Limits) -> str:
    return f"{limits.max_image_pixels / 1e6:.0f}"
