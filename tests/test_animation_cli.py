"""`fffusion swap` on an animated meme: the extension of -o chooses an animation or its key frame."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from core.clips import media, motion
from core.limits import Limits
from core.provenance import read_xmp

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """The astronaut's face as the person, a GIF of her shaken as the meme (10 frames of 80 ms)."""
    face = tmp_path / "face.jpg"
    Image.fromarray(data.astronaut()[0:300, 100:350]).save(face)
    clip = motion.animate(data.astronaut(), "shake", 0.8, 12, 320, (220, 120, 90))
    clip = media.Clip(clip.frames[:10], [80] * 10)
    meme = tmp_path / "meme.gif"
    meme.write_bytes(media.encode_clip(clip, "gif", provenance=False))
    return face, meme


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".webp"])
def test_swap_writes_an_animation_with_the_meme_s_frames_and_timing(
    run_cli: Run, files: tuple[Path, Path], tmp_path: Path, suffix: str
) -> None:
    face, meme = files
    out = tmp_path / f"out{suffix}"
    result = run_cli("swap", "--face", str(face), "--meme", str(meme), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "10 of 10 frame(s) swapped, 0.80 s" in result.stdout
    clip = media.decode_clip(out.read_bytes(), Limits())
    assert len(clip.frames) == 10 and clip.durations_ms == [80] * 10
    if suffix == ".webp":
        assert "compositeSynthetic" in read_xmp(out.read_bytes())


def test_swap_writes_a_clip_s_key_frame_as_a_still_with_a_notice(
    run_cli: Run, files: tuple[Path, Path], tmp_path: Path
) -> None:
    face, meme = files
    out = tmp_path / "out.jpg"
    result = run_cli("swap", "--face", str(face), "--meme", str(meme), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "대표 장면" in result.stderr
    assert Image.open(out).format == "JPEG"


def test_an_animation_s_extension_for_a_still_meme_is_refused_before_models_load(
    run_cli: Run, files: tuple[Path, Path], tmp_path: Path
) -> None:
    face, _ = files
    result = run_cli("swap", "--face", str(face), "--meme", str(face), "-o", str(tmp_path / "out.mp4"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "움짤 형식" in result.stderr
    assert not (tmp_path / "out.mp4").exists()
