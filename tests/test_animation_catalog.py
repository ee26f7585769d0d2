"""Animated memes in a catalog: the demo's camera moves, clips added as files, face tracks cached by build."""

from __future__ import annotations

import dataclasses
import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from bot.config import DEMO_CATALOG
from core.catalog import prepare
from core.catalog.cache import DiskCache
from core.catalog.catalog import Catalog, load_catalog
from core.catalog.edit import add_meme
from core.clips import media, motion
from core.errors import InputError
from core.faces.engines import load_engine
from core.limits import Limits

LIMITS = Limits()
ANIMATED = ("astronaut-shock-zoom", "chandler-deadline-push-in", "hanks-fury-shake")


def _gif(frames: int, size: int = 48) -> bytes:
    clip = media.Clip([np.full((size, size, 3), 10 * i % 255, np.uint8) for i in range(frames)], [50] * frames)
    return media.encode_clip(clip, "gif", provenance=False)


def test_the_demo_s_animated_memes_are_labelled_and_move() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    animated = [m for m in catalog.memes if catalog.is_animated(m)]
    assert [m.id for m in animated] == list(ANIMATED)
    assert {m.animation for m in animated} == {"zoom", "push-in", "shake"}
    assert all("움짤" in m.tags and m.id.endswith(("-zoom", "-push-in", "-shake")) for m in animated)
    clip = catalog.clip(catalog.by_id["astronaut-shock-zoom"], LIMITS, (220.0, 120.0, 90.0))
    assert clip is not None and len(clip.frames) == round(motion.SECONDS * motion.FPS)
    assert clip.seconds == pytest.approx(motion.SECONDS)
    assert max(clip.frames[0].shape[:2]) == LIMITS.clip_side
    assert not np.array_equal(clip.frames[0], clip.frames[-1])
    assert catalog.clip(catalog.by_id["poker-table"], LIMITS) is None


def test_build_caches_the_face_track_of_every_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = load_catalog(DEMO_CATALOG)
    catalog = Catalog(demo.root, [demo.by_id[meme_id] for meme_id in ANIMATED])
    engine = load_engine("mesh", limits=LIMITS)
    cache = DiskCache(tmp_path / "cache")
    try:
        targets, _ = prepare.detect_targets(catalog, engine, cache, LIMITS)
        tracks = prepare.track_clips(catalog, engine, cache, LIMITS, targets)
        assert set(tracks) == set(ANIMATED)
        for meme_id, track in tracks.items():
            assert len(track) == 36 and all(face is not None for face in track), meme_id

        def no_tracking(*args: object, **kwargs: object) -> None:
            raise AssertionError("tracked again")

        monkeypatch.setattr(prepare, "track_face", no_tracking)
        again = prepare.track_clips(catalog, engine, cache, LIMITS, targets)
    finally:
        cache.close()
    first, cached = tracks["astronaut-shock-zoom"][20], again["astronaut-shock-zoom"][20]
    assert first is not None and cached is not None and np.allclose(first.landmarks, cached.landmarks)


def test_catalog_add_takes_a_clip_and_its_key_frame_stands_for_it(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    source = tmp_path / "wave.gif"
    source.write_bytes(_gif(9))
    meme = add_meme(folder, source, "손을 흔들며 인사한다")
    assert meme.image.endswith(".gif")
    catalog = load_catalog(folder)
    assert catalog.is_animated(catalog.by_id[meme.id])
    with Image.open(io.BytesIO(catalog.image_bytes(catalog.by_id[meme.id]))) as key:
        assert key.format == "PNG" and key.getpixel((0, 0)) == (40, 40, 40)  # the middle of 9 frames
    clip = catalog.clip(catalog.by_id[meme.id], LIMITS)
    assert clip is not None and len(clip.frames) == 9 and clip.durations_ms == [50] * 9


def test_a_clip_over_the_limits_is_refused_by_add_and_reported_by_load(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    long = tmp_path / "long.gif"
    long.write_bytes(_gif(LIMITS.clip_max_frames + 1, size=8))
    with pytest.raises(InputError) as caught:
        add_meme(folder, long, "너무 긴 움짤")
    assert caught.value.key == "clip.too_many_frames"
    short = tmp_path / "short.gif"
    short.write_bytes(_gif(3))
    add_meme(folder, short, "짧은 움짤")
    (folder / "images" / "short.gif").write_bytes(long.read_bytes())  # replaced by hand with a too long one
    with pytest.raises(InputError) as caught:
        load_catalog(folder)
    assert "clip cannot be used" in str(caught.value) and "frames" in str(caught.value)


def test_an_animation_must_name_a_known_camera_move(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    picture = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).save(picture)
    add_meme(folder, picture, "우주인이 웃는다", meme_id="astro")
    toml = folder / "catalog.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + 'animation = "spin"\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_catalog(folder)
    assert "'animation' must be one of: zoom, push-in, shake" in str(caught.value)


def test_the_catalog_writes_an_animation_back(tmp_path: Path) -> None:
    from core.catalog.edit import write_catalog

    folder = tmp_path / "catalog"
    picture = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).save(picture)
    meme = add_meme(folder, picture, "우주인이 웃는다", meme_id="astro")
    write_catalog(folder, [dataclasses.replace(meme, animation="shake")])
    assert load_catalog(folder).by_id["astro"].animation == "shake"


def test_demo_writes_an_animation_when_the_best_meme_is_animated(
    run_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out = tmp_path / "meme.mp4"
    result = run_cli("demo", "-o", str(out), "헐 이게 실화야?", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "[astronaut-shock-zoom" in result.stdout and "36 frames, 2.40 s" in result.stdout
    clip = media.decode_clip(out.read_bytes(), LIMITS)
    assert len(clip.frames) == 36 and clip.seconds == pytest.approx(2.4)
    still = tmp_path / "meme.jpg"
    result = run_cli("demo", "-o", str(still), "헐 이게 실화야?", timeout=300)
    assert result.returncode == 0 and "대표 장면" in result.stderr
    assert Image.open(still).format == "JPEG"
