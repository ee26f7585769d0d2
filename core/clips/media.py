"""Clips in and out: what a file is, decoding within the limits, encoding.

The limits (core/limits.py, clip_*) are checked before any frame is decoded: the byte count first, then what
the file's own structure says. GIF and WebP are walked block by block here (each frame's size and delay sit in
small headers, so counting frames and adding up their time reads no picture data); MP4 / WebM ask FFmpeg's
demuxer, which reads the container's header only. A file whose structure ends early is refused as truncated.
"""

from __future__ import annotations

import io
import itertools
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile

from core.errors import InputError
from core.images import read_file_capped, to_rgb, too_big
from core.limits import Limits
from core.provenance import XMP

#: output formats of a clip by file extension (the CLI's -o chooses)
CLIP_FORMATS: dict[str, str] = {".mp4": "mp4", ".gif": "gif", ".webp": "webp"}
#: GIF delays under 2/100 s are played as 1/10 s by browsers and chat apps; so are they here
_GIF_MIN_DELAY_MS, _GIF_SLOW_DELAY_MS = 20, 100
#: MP4 timestamps in milliseconds: every input's timing (GIF: 10 ms steps) is kept exactly
_MS = Fraction(1, 1000)
#: H.264 quality (x264's constant rate factor: 23 is its default, lower is better) and speed
_CRF, _PRESET = "23", "veryfast"

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class ClipInfo:
    """What a file's headers say: format ("gif", "webp", "mp4", "webm"), frame size, frames and seconds."""

    format: str
    width: int
    height: int
    frames: int
    seconds: float
    #: per-frame durations when the headers carry them (GIF, WebP); MP4 / WebM get theirs while decoding
    durations_ms: tuple[int, ...] = ()


@dataclass
class Clip:
    """Decoded frames (H, W, 3) uint8 RGB, all one size, and how long each is shown."""

    frames: list[np.ndarray]
    durations_ms: list[int]

    @property
    def seconds(self) -> float:
        return sum(self.durations_ms) / 1000

    @property
    def key_frame(self) -> np.ndarray:
        """The frame a still stands for the clip with: the middle one (zooms and push-ins peak late, shakes
        anywhere; the first frame is often a fade or a title)."""
        return self.frames[len(self.frames) // 2]


def sniff(data: bytes) -> str | None:
    """The container format from the first bytes, or None for anything else (a still's formats included)."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def is_clip(data: bytes) -> bool:
    """An animation: an MP4 / WebM video, or a GIF / WebP with more than one frame (a one-frame GIF is a still,
    and a file whose headers do not parse is left to the still decoder, which says what is wrong)."""
    fmt = sniff(data)
    if fmt in ("mp4", "webm"):
        return True
    if fmt is None:
        return False
    try:
        return probe(data).frames > 1
    except InputError:
        return False


def probe(data: bytes) -> ClipInfo:
    """The headers' account of a clip; InputError when it is no clip or its structure is cut short."""
    fmt = sniff(data)
    if fmt == "gif":
        return _probe_gif(data)
    if fmt == "webp":
        return _probe_webp(data)
    if fmt in ("mp4", "webm"):
        return _probe_video(data, fmt)
    raise InputError("image.not_image")


def check_clip(info: ClipInfo, limits: Limits) -> None:
    """The limits a clip's headers must meet before any frame is decoded."""
    if info.width * info.height > limits.clip_max_frame_pixels:
        raise InputError("clip.too_many_pixels", width=info.width, height=info.height,
                         limit_mp=f"{limits.clip_max_frame_pixels / 1e6:.1f}")
    if info.frames > limits.clip_max_frames:
        raise InputError("clip.too_many_frames", frames=info.frames, limit=limits.clip_max_frames)
    if info.seconds > limits.clip_max_seconds:
        raise InputError("clip.too_long", seconds=f"{info.seconds:.1f}", limit=f"{limits.clip_max_seconds:g}")


def decode_clip(data: bytes, limits: Limits) -> Clip:
    """A clip's frames, shrunk to `limits.clip_side` on the long side (even sizes: H.264 needs them), with
    their durations. Bytes, frame size, frame count and seconds are checked before the first frame is decoded."""
    if len(data) > limits.clip_max_bytes:
        raise too_big(len(data), limits.clip_max_bytes)
    info = probe(data)
    check_clip(info, limits)
    size = work_size(info.width, info.height, limits.clip_side)
    if info.format in ("gif", "webp"):
        frames = list(_pillow_frames(data, info.frames, size))
        return Clip(frames, list(info.durations_ms))
    return _decode_video(data, size, limits, info.frames if info.format == "mp4" else 0)


def read_clip_file(path: Path, limits: Limits) -> bytes:
    """A clip file's bytes, read with the clip's byte cap."""
    return read_file_capped(path, limits.clip_max_bytes)


def work_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The size frames are worked on: at most `side` on the long side, both sides even."""
    scale = min(1.0, side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def format_for_path(path: Path | str) -> str | None:
    """'mp4' | 'gif' | 'webp' when the name asks for an animation, else None (a still's extension)."""
    suffix = Path(path).suffix.lower()
    return CLIP_FORMATS.get(suffix)


def encode_clip(clip: Clip, fmt: str, provenance: bool = True) -> bytes:
    """Frames -> an MP4 (H.264, yuv420p, plays inline everywhere), animated GIF or animated WebP, each frame
    shown for its own duration, looping. `provenance`: WebP carries core.provenance's XMP packet, MP4 and GIF
    a comment naming the tool (neither has a place Pillow or FFmpeg writes XMP to)."""
    if fmt == "mp4":
        return _encode_mp4(clip, provenance)
    images = [Image.fromarray(frame, "RGB") for frame in clip.frames]
    if fmt == "gif":
        return _encode_gif(images, clip.durations_ms, provenance)
    if fmt == "webp":
        return _encode_webp(images, clip.durations_ms, provenance)
    raise ValueError(f"unknown clip format {fmt!r}")


_COMMENT = "FFfusion: composite including synthetic elements (a face swapped in by software)"


def _encode_gif(images: list[Image.Image], durations_ms: list[int], provenance: bool) -> bytes:
    """An animated GIF with one frame per frame. Pillow's own writer merges a frame identical to the one before
    (a hold, a freeze-frame) into it, which keeps the timing but not the frame count, so each frame is written by
    Pillow alone and its blocks are put together here: its palette becomes the frame's local colour table (one
    adaptive palette per frame: a face's skin needs its own colours; no dithering, which crawls between frames).
    GIF counts time in 1/100 s: delays are rounded on the running total, so the clip's length stays exact."""
    width, height = images[0].size
    ends = np.cumsum(durations_ms)
    centis = np.diff(np.round(ends / 10).astype(int), prepend=0)
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0))
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    if provenance:
        comment = _COMMENT.encode("ascii")
        out += b"\x21\xfe" + bytes([len(comment)]) + comment + b"\x00"
    for image, delay in zip(images, centis, strict=True):
        single = io.BytesIO()
        image.quantize(256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(single, "GIF", optimize=False)
        frame = single.getvalue()
        packed = frame[10]
        table = frame[13 : 13 + (3 << ((packed & 7) + 1))] if packed & 0x80 else b""
        offset = frame.index(b"\x2c", 13 + len(table))
        descriptor = bytearray(frame[offset : offset + 10])
        if table:
            descriptor[9] = (descriptor[9] & 0x40) | 0x80 | (packed & 7)
        data_end = _skip_sub_blocks(frame, offset + 11)
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", max(1, int(delay))) + b"\x00\x00"  # keep, then draw over
        out += descriptor + table + frame[offset + 10 : data_end]
    return bytes(out + b"\x3b")


def _encode_webp(images: list[Image.Image], durations_ms: list[int], provenance: bool) -> bytes:
    """An animated WebP with one frame per frame (libwebp's animation encoder, like Pillow's GIF writer, merges
    a frame identical to the one before): each frame is a lossy WebP of its own, put into the container's
    animation frames here, shown whole (no blending with the frame before), with the XMP packet."""

    def chunk(fourcc: bytes, payload: bytes) -> bytes:
        return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)

    def u24(value: int) -> bytes:
        return value.to_bytes(3, "little")

    width, height = images[0].size
    flags = 0x02 | (0x04 if provenance else 0)  # animation, XMP
    body = chunk(b"VP8X", bytes([flags, 0, 0, 0]) + u24(width - 1) + u24(height - 1))
    body += chunk(b"ANIM", b"\xff\xff\xff\xff" + struct.pack("<H", 0))  # white behind, loop forever
    for image, duration in zip(images, durations_ms, strict=True):
        single = io.BytesIO()
        image.save(single, "WEBP", quality=80, method=4)
        bitstream = single.getvalue()[12:]  # the frame's own VP8 chunk, whole
        header = u24(0) + u24(0) + u24(width - 1) + u24(height - 1) + u24(duration) + b"\x02"  # do not blend
        body += chunk(b"ANMF", header + bitstream)
    if provenance:
        body += chunk(b"XMP ", XMP)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _probe_gif(data: bytes) -> ClipInfo:
    """Walks a GIF's blocks: the logical screen, then per frame its graphic control extension (the delay) and
    image descriptor, skipping the compressed data by its sub-block lengths."""
    if len(data) < 13:
        raise InputError("image.truncated")
    width, height, packed = struct.unpack_from("<HHB", data, 6)
    offset = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    delays: list[int] = []
    delay = 0
    try:
        while True:
            block = data[offset]
            if block == 0x3B:  # trailer
                break
            if block == 0x21:  # extension: label, then sub-blocks
                if data[offset + 1] == 0xF9 and data[offset + 2] >= 4:
                    delay = struct.unpack_from("<H", data, offset + 4)[0] * 10
                offset = _skip_sub_blocks(data, offset + 2)
            elif block == 0x2C:  # image descriptor, optional local colour table, LZW code size, sub-blocks
                flags = data[offset + 9]
                offset += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
                offset = _skip_sub_blocks(data, offset + 1)
                delays.append(delay if delay >= _GIF_MIN_DELAY_MS else _GIF_SLOW_DELAY_MS)
                delay = 0
            else:
                raise InputError("image.not_image")
    except IndexError:
        # the last frame's data ends early: Pillow stops at the last whole frame, the file is still cut short
        raise InputError("image.truncated") from None
    if not delays:
        raise InputError("image.truncated")
    return ClipInfo("gif", width, height, len(delays), sum(delays) / 1000, tuple(delays))


def _skip_sub_blocks(data: bytes, offset: int) -> int:
    while (size := data[offset]) != 0:
        offset += size + 1
    if offset >= len(data):
        raise IndexError(offset)
    return offset + 1


def _probe_webp(data: bytes) -> ClipInfo:
    """Walks a WebP's RIFF chunks: VP8X gives the canvas, each ANMF a frame and its duration."""
    width = height = 0
    durations: list[int] = []
    still = False
    offset, end = 12, min(len(data), 8 + struct.unpack_from("<I", data, 4)[0])
    while offset + 8 <= end:
        fourcc, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        payload = offset + 8
        if payload + size > len(data):
            raise InputError("image.truncated")
        if fourcc == b"VP8X" and size >= 10:
            width = 1 + int.from_bytes(data[payload + 4 : payload + 7], "little")
            height = 1 + int.from_bytes(data[payload + 7 : payload + 10], "little")
        elif fourcc == b"ANMF" and size >= 16:
            durations.append(int.from_bytes(data[payload + 12 : payload + 15], "little"))
        elif fourcc in (b"VP8 ", b"VP8L"):
            still = True
        offset = payload + size + (size & 1)
    if durations:
        return ClipInfo("webp", width, height, len(durations), sum(durations) / 1000, tuple(durations))
    if still:  # a still WebP: one frame, its size read by Pillow from the same header
        with Image.open(io.BytesIO(data)) as image:
            return ClipInfo("webp", image.width, image.height, 1, 0.0, (0,))
    raise InputError("image.truncated")


def _open_video(data: bytes) -> Any:  # av.container.InputContainer: PyAV loads only where a video is read
    import av

    try:
        return av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise InputError("image.not_image") from err


def _probe_video(data: bytes, fmt: str) -> ClipInfo:
    with _open_video(data) as container:
        if not container.streams.video:
            raise InputError("image.not_image")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = (container.duration or 0) / 1_000_000
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        frames = stream.frames or round(seconds * rate)
    if width <= 0 or height <= 0:
        raise InputError("image.not_image")
    return ClipInfo(fmt, width, height, frames, seconds)


def _decode_video(data: bytes, size: tuple[int, int], limits: Limits, expected: int) -> Clip:
    """Frames and their durations from the timestamps; `expected`: the frame count the header promises (MP4
    counts its samples; WebM does not), 0 when unknown."""
    import av

    frames: list[np.ndarray] = []
    stamps: list[float] = []
    last_duration = 0.0
    with _open_video(data) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                # the header's count can be missing or lie: the limits hold while decoding too
                if len(frames) >= limits.clip_max_frames:
                    raise InputError("clip.too_many_frames", frames=f"{len(frames) + 1}+", limit=limits.clip_max_frames)
                time_base = frame.time_base or stream.time_base
                stamps.append(float((frame.pts or 0) * time_base) if frame.pts is not None else len(frames) / 15)
                if stamps[-1] - stamps[0] > limits.clip_max_seconds:
                    raise InputError("clip.too_long", seconds=f"{stamps[-1] - stamps[0]:.1f}+",
                                     limit=f"{limits.clip_max_seconds:g}")
                last_duration = float(frame.duration * time_base) if frame.duration else 0.0
                frames.append(frame.to_ndarray(width=size[0], height=size[1], format="rgb24"))
        except av.error.FFmpegError as err:
            raise InputError("image.truncated") from err
    # a file cut short decodes what it has without an error: its header still counts the frames it lost
    if not frames or len(frames) < expected:
        raise InputError("image.truncated")
    durations = [round((b - a) * 1000) for a, b in itertools.pairwise(stamps)]
    durations.append(round(last_duration * 1000) or (durations[-1] if durations else 100))
    return Clip(frames, [max(1, d) for d in durations])


def _pillow_frames(data: bytes, count: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            for index in range(count):
                image.seek(index)
                image.load()
                frame = image if image.size == size else image.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
                yield to_rgb(frame)
    except Image.DecompressionBombError:
        limit = Image.MAX_IMAGE_PIXELS or 0  # Pillow raises this only when it has a limit
        raise InputError("image.too_many_pixels", limit_mp=f"{limit / 1e6:.0f}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as err:
        raise InputError("image.truncated") from err


def _encode_mp4(clip: Clip, provenance: bool) -> bytes:
    height, width = clip.frames[0].shape[:2]
    # "+faststart" (the index before the frames, so a chat plays the clip while it loads) rewrites the file in a
    # second pass, which FFmpeg does only on a real file
    with tempfile.TemporaryDirectory(prefix="fffusion-clip-") as folder:
        path = Path(folder) / "clip.mp4"
        _write_mp4(clip, path, width, height, provenance)
        return path.read_bytes()


def _write_mp4(clip: Clip, path: Path, width: int, height: int, provenance: bool) -> None:
    import av  # here: the bot side sniffs and probes GIF / WebP without FFmpeg's libraries

    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        if provenance:
            container.metadata["comment"] = _COMMENT
        fps = Fraction(round(1000 * len(clip.frames) / max(1, sum(clip.durations_ms))), 1) or Fraction(15)
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = _MS
        stream.codec_context.time_base = _MS
        # no B-frames: MP4 keeps a sample's duration in decode order, so with frames reordered the last frame shown
        # would take another's duration (and a player its length)
        stream.options = {"crf": _CRF, "preset": _PRESET, "bf": "0"}
        starts = np.concatenate([[0], np.cumsum(clip.durations_ms)[:-1]]).tolist()
        # the muxer takes a sample's duration from its packet (the last frame's would otherwise be guessed)
        duration_at = dict(zip(starts, clip.durations_ms, strict=True))

        def mux(packets: list[Any]) -> None:
            for packet in packets:  # in the encoder's time base, which the muxer may change
                if packet.pts is not None and packet.time_base is not None:
                    start = round(packet.pts * packet.time_base * 1000)
                    if start in duration_at:
                        packet.duration = round(Fraction(duration_at[start], 1000) / packet.time_base)
            container.mux(packets)

        for rgb, start in zip(clip.frames, starts, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = start, _MS
            mux(stream.encode(frame))
        mux(stream.encode(None))
