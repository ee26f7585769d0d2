"""움짤: real animations made from pictures that ship in packages (scikit-image's astronaut moved by a camera,
its coffee cup as frames without a face, Tom Hanks from insightface as the person), in GIF, WebP and MP4."""

from __future__ import annotations

import dataclasses
import functools
import io
from importlib import resources

import numpy as np
import pytest
from PIL import Image
from skimage import data

from core.clips import media, motion
from core.clips.swap import ClipOutcome, handover_weights, smooth_shapes, swap_clip, track_face
from core.errors import InputError
from core.faces.base import SourceFace
from core.faces.engines import load_engine
from core.images import decode_image
from core.limits import Limits
from core.messages import render
from tests.faceutil import face_vector

LIMITS = Limits()
#: frames without a face, cut into the middle of the clip (the coffee cup)
FACELESS = range(7, 10)
#: jitter: the mean over the clip of how far the swapped face's landmarks moved between two frames beside how the
#: meme's own moved (dlib's 68 points, mean per point), as a share of the eye distance; the largest single step.
#: Measured ~0.023 mean / 0.03 largest (dlib's own landmark noise on these frames is about that much)
JITTER_MEAN, JITTER_MAX = 0.05, 0.08


@functools.cache
def engine():  # type: ignore[no-untyped-def]
    return load_engine("mesh", limits=LIMITS)


@functools.cache
def person() -> tuple[np.ndarray, SourceFace]:
    hanks = resources.files("insightface").joinpath("data/images/Tom_Hanks_54745.png").read_bytes()
    photo = decode_image(hanks, LIMITS)
    return photo, engine().make_source(photo)[0]


@functools.cache
def meme_clip(kind: str = "shake") -> media.Clip:
    """1.4 s at 10 fps of the astronaut's face moving, with three frames of a coffee cup cut in."""
    still = data.astronaut()
    x1, y1, x2, y2 = engine().detect(still)[0].bbox
    clip = motion.animate(still, kind, 1.4, 10, 320, ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1))
    height, width = clip.frames[0].shape[:2]
    cup = np.asarray(Image.fromarray(data.coffee()).resize((width, height)))
    frames = list(clip.frames)
    for index in FACELESS:
        frames[index] = cup
    return media.Clip(frames, [70, 80, 100, 90, 110, 60, 100, 100, 100, 120, 80, 100, 90, 100])


@functools.cache
def swapped(fmt: str) -> tuple[media.Clip, ClipOutcome, bytes]:
    """The clip written as `fmt` and read back (the meme as a file), and its swap, written as `fmt` too."""
    meme = media.decode_clip(media.encode_clip(meme_clip(), fmt), LIMITS)
    outcome = swap_clip(meme, person()[1], engine(), LIMITS)
    return meme, outcome, media.encode_clip(outcome.clip, fmt)


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_a_clip_keeps_its_frames_and_timing_and_every_face_is_swapped(fmt: str) -> None:
    meme, outcome, written = swapped(fmt)
    assert media.sniff(written) == fmt and media.is_clip(written)
    back = media.decode_clip(written, LIMITS)
    assert len(back.frames) == len(meme_clip().frames) == len(meme.frames)
    assert back.durations_ms == meme_clip().durations_ms == meme.durations_ms
    assert media.probe(written).seconds == pytest.approx(1.3, abs=1e-3)
    with_face = [i for i in range(len(meme.frames)) if i not in FACELESS]
    assert [i for i, seen in enumerate(outcome.tracked) if seen] == with_face
    target = face_vector(person()[0])
    closer = []
    for index in with_face:
        before, after = face_vector(meme.frames[index]), face_vector(back.frames[index])
        assert before is not None and after is not None
        closer.append(np.linalg.norm(after - target) < np.linalg.norm(before - target))
    assert sum(closer) >= 0.9 * len(with_face), closer


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_frames_without_a_face_are_left_exactly_as_they_were(fmt: str) -> None:
    meme, outcome, _ = swapped(fmt)
    for index in FACELESS:
        assert not outcome.swapped[index]
        assert np.array_equal(outcome.clip.frames[index], meme.frames[index])
    # beside a cut the swap stays whole (the fade is for a face the swap leaves, test_the_swap_fades_...)
    assert all(outcome.swapped[i] for i in (FACELESS[0] - 1, FACELESS[-1] + 1))


def test_the_swapped_face_moves_with_the_meme_s_head_without_jitter() -> None:
    from tests.faceutil import _engine as dlib_engine

    meme, outcome, _ = swapped("mp4")
    detector = dlib_engine()

    def points(frame: np.ndarray) -> np.ndarray:
        return detector.detect(frame)[0].landmarks

    steps = []
    runs = [range(0, FACELESS[0]), range(FACELESS[-1] + 1, len(meme.frames))]
    for run in runs:
        for a, b in zip(run, list(run)[1:], strict=False):
            before, after = points(meme.frames[a]), points(meme.frames[b])
            eyes = float(np.linalg.norm(before[36:42].mean(axis=0) - before[42:48].mean(axis=0)))
            moved = points(outcome.clip.frames[b]) - points(outcome.clip.frames[a])
            steps.append(float(np.linalg.norm(moved - (after - before), axis=1).mean()) / eyes)
    assert np.mean(steps) < JITTER_MEAN and max(steps) < JITTER_MAX, np.round(steps, 3)


def test_smoothing_keeps_the_head_s_motion_and_removes_the_landmarks_jitter() -> None:
    rng = np.random.default_rng(3)
    shape = rng.uniform(-50, 50, (468, 3))
    frames = []
    for t in range(20):  # the head turns, grows and travels: a similarity per frame
        angle, scale, shift = 0.05 * t, 1 + 0.03 * t, np.array([7.0 * t, -3.0 * t])
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        xy = shape[:, :2] @ rot.T * scale + shift + 200
        frames.append(np.hstack([xy, shape[:, 2:] * scale]))
    clean = np.stack(frames)
    assert np.allclose(smooth_shapes(clean, 1.5), clean, atol=1e-6)  # no lag: pure motion is kept as it is
    noisy = clean + rng.normal(0, 2.0, clean.shape)
    assert np.abs(smooth_shapes(noisy, 1.5) - clean).mean() < 0.6 * np.abs(noisy - clean).mean()


def test_the_swap_fades_out_and_in_beside_frames_it_leaves() -> None:
    weights = handover_weights([True] * 4 + [False] + [True] * 4, 2)
    assert np.allclose(weights, [1, 1, 2 / 3, 1 / 3, 0, 1 / 3, 2 / 3, 1, 1])
    assert np.allclose(handover_weights([True] * 3, 2), 1)


def test_a_face_is_followed_through_a_dramatic_zoom() -> None:
    clip = meme_clip("zoom")
    track = track_face(clip.frames, engine(), limits=LIMITS)
    assert [face is not None for face in track] == [i not in FACELESS for i in range(len(clip.frames))]
    widths = [face.width for face in track if face is not None]
    assert widths[-1] > 1.5 * widths[0]


def _gif(frames: int, size: tuple[int, int] = (64, 48), duration: int = 100) -> bytes:
    images = [Image.new("RGB", size, (40 * i % 255, 90, 200)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return out.getvalue()


def _refused_before_decoding(data: bytes, limits: Limits, monkeypatch: pytest.MonkeyPatch) -> InputError:
    def no_decoding(*args: object) -> None:
        raise AssertionError("a frame was decoded")

    monkeypatch.setattr(media, "_pillow_frames", no_decoding)
    monkeypatch.setattr(media, "_decode_video", no_decoding)
    with pytest.raises(InputError) as caught:
        media.decode_clip(data, limits)
    text = render(caught.value.key, "ko", **caught.value.params)
    assert "\n" not in text and text.strip() == text
    return caught.value


def test_too_many_frames_too_long_or_too_large_is_refused_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    few = dataclasses.replace(LIMITS, clip_max_frames=5)
    err = _refused_before_decoding(_gif(6), few, monkeypatch)
    assert err.key == "clip.too_many_frames" and err.params["frames"] == 6
    short = dataclasses.replace(LIMITS, clip_max_seconds=1.0)
    assert _refused_before_decoding(_gif(5, duration=300), short, monkeypatch).key == "clip.too_long"
    video = media.encode_clip(meme_clip(), "mp4")
    assert _refused_before_decoding(video, short, monkeypatch).key == "clip.too_long"
    webp = media.encode_clip(meme_clip(), "webp")
    assert _refused_before_decoding(webp, few, monkeypatch).key == "clip.too_many_frames"
    small = dataclasses.replace(LIMITS, clip_max_frame_pixels=100_000)
    err = _refused_before_decoding(video, small, monkeypatch)
    assert err.key == "clip.too_many_pixels" and render(err.key, "en", **err.params).startswith(
        "That animation's frames are too large (320x")
    tiny = dataclasses.replace(LIMITS, clip_max_bytes=10_000)
    assert _refused_before_decoding(video, tiny, monkeypatch).key == "image.too_big_bytes"


def test_a_gif_whose_screen_claims_a_huge_picture_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = bytearray(_gif(3))
    bomb[6:10] = (30000).to_bytes(2, "little") + (30000).to_bytes(2, "little")
    assert _refused_before_decoding(bytes(bomb), LIMITS, monkeypatch).key == "clip.too_many_pixels"


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_a_clip_cut_short_is_refused_as_truncated(fmt: str) -> None:
    whole = media.encode_clip(meme_clip(), fmt)
    with pytest.raises(InputError) as caught:
        media.decode_clip(whole[: len(whole) // 2], LIMITS)
    assert caught.value.key == "image.truncated"


@pytest.mark.parametrize("junk", [b"GIF89a" + bytes(range(256)) * 4, b"RIFF\x10\x00\x00\x00WEBPjunkjunk",
                                  b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200, b"hello"])
def test_a_file_that_only_looks_like_a_clip_is_refused(junk: bytes) -> None:
    with pytest.raises(InputError) as caught:
        media.decode_clip(junk, LIMITS)
    assert caught.value.key in ("image.not_image", "image.truncated")


def test_a_still_is_not_a_clip() -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32)).save(out, "GIF")
    assert not media.is_clip(out.getvalue())
    assert media.is_clip(_gif(2))
