"""Safe image input/output: limits before decoding, damaged files, frames, orientation, colour modes."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError
from core.images import decode_image, encode_image, format_for_path, read_image_file
from core.limits import Limits
from core.messages import TEXTS
from tests import face_fixtures as fx

REPO = Path(__file__).resolve().parent.parent

LIMITS = Limits()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size and has no pixel data: decoding it would fail, so an error about the
    size proves the size was refused from the header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def error_key(data: bytes, limits: Limits = LIMITS) -> str:
    with pytest.raises(InputError) as caught:
        decode_image(data, limits)
    assert caught.value.key in TEXTS
    return caught.value.key


def test_real_photo_decodes_to_rgb() -> None:
    rgb = decode_image(fx.T1_PATH.read_bytes(), LIMITS)
    assert rgb.shape == (886, 1280, 3) and rgb.dtype == np.uint8


def test_not_an_image() -> None:
    assert error_key(b"this is plainly text, not a picture") == "image.not_image"
    assert error_key(b"") == "image.not_image"


def test_truncated_jpeg_is_an_error_not_a_grey_half() -> None:
    jpeg = encode_image(fx.astronaut(), "jpeg")
    for cut in (len(jpeg) // 2, len(jpeg) - 2):  # half, and only the end-of-image marker missing
        assert error_key(jpeg[:cut]) == "image.truncated"


def test_decompression_bomb_refused_from_the_header() -> None:
    assert error_key(png_header_only(20_000, 20_000)) == "image.too_many_pixels"
    # below Pillow's own bomb threshold, our (lower) limit decides, still without decoding
    assert error_key(png_header_only(5_000, 5_000), Limits(max_image_pixels=10_000_000)) == "image.too_many_pixels"


def test_size_in_bytes_checked_first() -> None:
    assert error_key(b"x" * 101, Limits(max_image_bytes=100)) == "image.too_big_bytes"


def test_animated_gif_and_webp_give_the_first_frame() -> None:
    red = Image.new("RGB", (32, 24), (255, 0, 0))
    blue = Image.new("RGB", (32, 24), (0, 0, 255))
    for fmt in ("GIF", "WEBP"):
        data = save(red, fmt, save_all=True, append_images=[blue], duration=100, loop=0, lossless=True)
        assert Image.open(io.BytesIO(data)).n_frames == 2
        rgb = decode_image(data, LIMITS)
        assert rgb.shape == (24, 32, 3)
        assert rgb[..., 0].mean() > 200 and rgb[..., 2].mean() < 50, fmt


def test_exif_orientation_is_respected() -> None:
    # Stored 60 wide x 40 high with a red top-left corner; orientation 6 = "rotate 90° clockwise to view".
    stored = Image.new("RGB", (60, 40), (255, 255, 255))
    stored.paste((255, 0, 0), (0, 0, 15, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb = decode_image(save(stored, "JPEG", exif=exif, quality=95), LIMITS)
    assert rgb.shape == (60, 40, 3)
    # clockwise: the stored top-left corner ends up top-right
    assert rgb[:8, -8:, 1].mean() < 80 and rgb[:8, :8, 1].mean() > 200


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "P+transparency", "CMYK", "1", "I;16"])
def test_colour_modes_become_rgb(mode: str) -> None:
    base = Image.fromarray(fx.astronaut()).resize((64, 64))
    if mode == "I;16":
        grey = np.asarray(base.convert("L"), dtype=np.uint16) * 257  # full 16-bit range
        image = Image.fromarray(grey)
        assert image.mode.startswith("I")
    elif mode == "P+transparency":
        image = base.convert("P")
        image.info["transparency"] = 0
    else:
        image = base.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    rgb = decode_image(save(image, fmt), LIMITS)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert 40 < rgb.mean() < 215, "not clipped to white or black"


def test_transparent_pixels_become_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert decode_image(save(image, "PNG"), LIMITS).min() == 255


def test_read_image_file(tmp_path: Path) -> None:
    assert read_image_file(fx.TOM_HANKS_PATH, LIMITS).shape == (112, 112, 3)
    with pytest.raises(InputError) as caught:
        read_image_file(tmp_path / "missing.jpg", LIMITS)
    assert caught.value.key == "file.unreadable"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes to it: reading would block forever
    for path in (tmp_path, Path("/dev/zero"), fifo):
        with pytest.raises(InputError) as caught:
            read_image_file(path, LIMITS)
        assert caught.value.key == "file.not_regular"
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 2000)
    with pytest.raises(InputError) as caught:
        read_image_file(big, Limits(max_image_bytes=1000))
    assert caught.value.key == "image.too_big_bytes"


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_encode_round_trip(fmt: str) -> None:
    rgb = fx.astronaut()
    data = encode_image(rgb, fmt)
    assert Image.open(io.BytesIO(data)).format == fmt.upper()
    back = decode_image(data, LIMITS)
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 4


def test_encode_limits_side_and_bytes() -> None:
    rgb = fx.group_photo()
    assert decode_image(encode_image(rgb, "jpeg", max_side=640), LIMITS).shape == (443, 640, 3)
    small = encode_image(rgb, "jpeg", max_bytes=40_000)
    assert len(small) <= 40_000
    assert len(encode_image(rgb, "png", max_bytes=300_000)) <= 300_000
    with pytest.raises(ValueError):
        encode_image(rgb, "bmp")


def test_format_for_path() -> None:
    assert format_for_path("out.JPG") == "jpeg"
    assert format_for_path(Path("a/b.jpeg")) == "jpeg"
    assert format_for_path("x.webp") == "webp"
    assert format_for_path("x.png") == "png"
    with pytest.raises(InputError) as caught:
        format_for_path("result.gif")
    assert caught.value.key == "image.output_format"


def test_the_worst_allowed_photos_cost_a_worker_under_300_mb(tmp_path: Path) -> None:
    """A 39.6 MP PNG once cost 950 MB in a worker: JPEG now decodes at a reduced scale, other formats are
    allowed up to max_full_decode_pixels. Each photo is decoded in a fresh process (bench/photo_memory.py)."""
    from bench.photo_memory import worst_photos

    photos = worst_photos(Limits())
    for name in ("jpeg", "png-rgba", "webp"):
        path = tmp_path / name
        path.write_bytes(photos[name])
        out = subprocess.run([sys.executable, "-m", "bench.photo_memory", "--child", str(path)], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
        assert out[3] == "ok" and float(out[2]) - float(out[1]) < 300, (name, out)


def test_big_photos_are_decoded_small_and_big_pngs_refused() -> None:
    limits = Limits()
    jpeg = io.BytesIO()
    Image.new("RGB", (6000, 4000), (90, 120, 200)).save(jpeg, "JPEG")
    rgb = decode_image(jpeg.getvalue(), limits)
    assert rgb.shape[0] * rgb.shape[1] <= limits.max_decode_pixels and rgb.shape[1] / rgb.shape[0] == 1.5
    assert np.abs(rgb.astype(int) - (90, 120, 200)).max() < 8
    png = io.BytesIO()
    Image.new("RGB", (5000, 4000), (90, 120, 200)).save(png, "PNG")  # 20 MP: over the 16 MP for PNG
    with pytest.raises(InputError) as caught:
        decode_image(png.getvalue(), limits)
    assert caught.value.key == "image.too_many_pixels" and caught.value.params["limit_mp"] == "16"
