"""The classical swap (dlib backend) and `fffusion swap`: identity moves to the source, known failures are
guarded, bad input gets a clear message and exit 2 with nothing written."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from bot.cli import main
from core.faces import swap as classical
from core.faces.base import DetectedFace, SourceFace
from core.faces.dlib_engine import DlibEngine
from core.images import decode_image
from core.limits import Limits
from core.messages import render
from tests import face_fixtures as fx
from tests.faceutil import identity_distance
from tests.test_images import png_header_only

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> DlibEngine:
    return DlibEngine()


@pytest.fixture(scope="module")
def people(engine: DlibEngine) -> dict[str, DetectedFace]:
    """t1.jpg's faces by name (left to right)."""
    return fx.t1_faces(engine)


def person_photo(people: dict[str, DetectedFace], name: str) -> np.ndarray:
    return fx.crop_around(fx.group_photo(), people[name].bbox)


def face_window(rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    return fx.crop_around(rgb, face.bbox, margin=0.5)


def outline_mask(shape: tuple[int, ...], face: DetectedFace, grow: int) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(classical.control_points(face.landmarks).astype(np.int32)), 255)
    kernel = np.ones((2 * abs(grow) + 1, 2 * abs(grow) + 1), np.uint8)
    return (cv2.dilate(mask, kernel) if grow >= 0 else cv2.erode(mask, kernel)) > 0


@pytest.mark.parametrize(("source_name", "target_name"), [
    ("astronaut", "ross"), ("astronaut", "phoebe"), ("rachel", "phoebe"), ("phoebe", "chandler"),
    ("monica", "joey"),
])
def test_result_carries_the_source_identity(
    engine: DlibEngine, people: dict[str, DetectedFace], source_name: str, target_name: str
) -> None:
    photo = fx.astronaut() if source_name == "astronaut" else person_photo(people, source_name)
    source, _ = engine.make_source(photo)
    meme, target = fx.group_photo(), people[target_name]
    outcome = engine.swap(meme, [target], source)
    assert outcome.swapped == (0,) and outcome.skipped == ()
    before = identity_distance(photo, face_window(meme, target))
    after = identity_distance(photo, face_window(outcome.image, target))
    assert after < before, (before, after)


def test_nothing_changes_outside_the_face_outline(engine: DlibEngine, people: dict[str, DetectedFace],
                                                  astronaut_source: SourceFace) -> None:
    """The mask stays inside the jaw/brow outline: no source hair or background is pasted around it."""
    meme = fx.group_photo()
    outcome = engine.swap(meme, list(people.values()), astronaut_source)
    assert len(outcome.swapped) >= 3
    changed = np.abs(outcome.image.astype(int) - meme.astype(int)).max(axis=2) > 0
    allowed = np.zeros(changed.shape, bool)
    for index in outcome.swapped:
        allowed |= outline_mask(meme.shape, list(people.values())[index], grow=1)
    assert not (changed & ~allowed).any()
    for index, reason in outcome.skipped:
        face = list(people.values())[index]
        assert not changed[outline_mask(meme.shape, face, grow=1)].any(), "a skipped face is left untouched"
        assert reason == "swap.pose_mismatch"
    assert outcome.notices == tuple(dict.fromkeys(reason for _, reason in outcome.skipped))


@pytest.fixture(scope="module")
def astronaut_source(engine: DlibEngine) -> SourceFace:
    return engine.make_source(fx.astronaut())[0]


@pytest.mark.parametrize(("source_name", "target_name"), [("ross", "joey"), ("chandler", "monica")])
def test_pose_gap_skips_instead_of_tearing(
    engine: DlibEngine, people: dict[str, DetectedFace], source_name: str, target_name: str
) -> None:
    source, _ = engine.make_source(person_photo(people, source_name))
    meme = fx.group_photo()
    outcome = engine.swap(meme, [people[target_name]], source)
    assert outcome.swapped == () and outcome.skipped == ((0, "swap.pose_mismatch"),)
    np.testing.assert_array_equal(outcome.image, meme)
    assert "정면" in render(outcome.notices[0], "ko")


def test_yaw_and_mirror(engine: DlibEngine, people: dict[str, DetectedFace]) -> None:
    assert abs(classical.yaw(people["ross"].landmarks)) < 10
    assert classical.yaw(people["joey"].landmarks) < -35 and classical.yaw(people["monica"].landmarks) < -35
    # a mirrored face: landmarks found on the flipped photo match the mirrored landmarks, yaw changes sign
    group = fx.group_photo()
    flipped_faces = engine.detect(group[:, ::-1].copy())
    joey = people["joey"]
    mirrored = classical.mirror(classical.Source(group, group[:, :, 0], joey.landmarks))
    nearest = min(flipped_faces, key=lambda f: float(np.abs(f.landmarks - mirrored.landmarks).mean()))
    assert float(np.abs(nearest.landmarks - mirrored.landmarks).mean()) < 4
    assert classical.yaw(nearest.landmarks) > 35


def test_a_source_facing_the_other_way_is_mirrored_and_swapped(
    engine: DlibEngine, people: dict[str, DetectedFace]
) -> None:
    # Tom Hanks looks ~30° to the image's right, Chandler ~25° to its left: only a mirror image fits.
    source, notices = engine.make_source(fx.tom_hanks())
    assert classical.yaw(source.landmarks) > 20 and classical.yaw(people["chandler"].landmarks) < -20
    outcome = engine.swap(fx.group_photo(), [people["chandler"]], source)
    assert outcome.swapped == (0,)
    assert "face.greyscale" in notices


def test_greyscale_source_keeps_the_meme_colour(engine: DlibEngine, people: dict[str, DetectedFace]) -> None:
    source, _ = engine.make_source(fx.tom_hanks())
    meme, target = fx.group_photo(), people["phoebe"]
    outcome = engine.swap(meme, [target], source)
    assert outcome.swapped == (0,)
    inside = outline_mask(meme.shape, target, grow=-1) & (
        np.abs(outcome.image.astype(int) - meme.astype(int)).max(axis=2) > 8
    )
    assert inside.sum() > 500

    def chroma(rgb: np.ndarray) -> float:
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
        return float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)[inside].mean())

    assert chroma(outcome.image) > 0.7 * chroma(meme), "the swapped face is not greyed out"


def test_closed_eyes_in_the_meme_stay_closed(
    engine: DlibEngine, people: dict[str, DetectedFace], astronaut_source: SourceFace
) -> None:
    """Phoebe's eyes are shut; the astronaut's open eyes are not squeezed into them."""
    meme, target = fx.group_photo(), people["phoebe"]
    outcome = engine.swap(meme, [target], astronaut_source)
    assert outcome.swapped == (0,)
    for eye in (classical.LEFT_EYE, classical.RIGHT_EYE):
        x, y = np.round(target.landmarks[eye].mean(axis=0)).astype(int)
        np.testing.assert_array_equal(outcome.image[y - 1 : y + 2, x - 2 : x + 3], meme[y - 1 : y + 2, x - 2 : x + 3])


def test_occlusion_and_torn_share_helpers() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=np.float32)
    triangles = np.array([[0, 1, 2], [0, 2, 3]])
    assert classical.torn_share(square, square * 3, triangles) == 0
    folded = square.copy()
    folded[2] = [-5, -5]  # the far corner crosses over: both triangles flip
    assert classical.torn_share(square, folded, triangles) > 0.5


# --- the command line ---------------------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("FFFUSION_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FFFUSION_CACHE_DIR", str(tmp_path / "cache"))
    Image.fromarray(fx.astronaut()).save(tmp_path / "me.png")
    (tmp_path / "meme.jpg").write_bytes(fx.T1_PATH.read_bytes())
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["swap", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_cli_swaps_into_the_requested_format(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = files / "out.webp"
    code, out, err = run_cli(capsys, "--face", str(files / "me.png"), "--meme", str(files / "meme.jpg"), "-o",
                             str(out_path), "--target", "2")
    assert code == 0, err
    assert Image.open(out_path).format == "WEBP"
    result = decode_image(out_path.read_bytes(), Limits())
    assert result.shape == (886, 1280, 3)
    assert "1 of 6" in out


def test_cli_several_faces_in_the_source_use_the_largest(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "--face", str(files / "meme.jpg"), "--meme", str(files / "me.png"), "-o",
                           str(files / "out.png"))
    assert code == 0
    assert render("face.several_used_largest", "ko") in err
    assert Image.open(files / "out.png").format == "PNG"


def test_cli_phone_photos_animated_and_rotated(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a portrait phone photo stored sideways with an EXIF orientation, and an animated GIF whose first
    # frame is the face: both are read as a person sees them
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(fx.astronaut())))  # stored rotated 90° left
    exif = Image.Exif()
    exif[0x0112] = 6  # view: rotate 90° clockwise
    sideways.save(files / "phone.jpg", exif=exif, quality=92)
    first = Image.fromarray(fx.astronaut())
    first.save(files / "anim.gif", save_all=True, append_images=[Image.new("RGB", first.size, (0, 0, 255))],
               duration=100, loop=0)
    for face in ("phone.jpg", "anim.gif"):
        code, _, err = run_cli(capsys, "--face", str(files / face), "--meme", str(files / "meme.jpg"), "-o",
                               str(files / f"{face}.jpg"))
        assert code == 0, (face, err)


def bad_inputs(files: Path) -> dict[str, tuple[list[str], str]]:
    (files / "notes.jpg").write_text("not a picture at all")
    jpeg = io.BytesIO()
    Image.fromarray(fx.astronaut()).save(jpeg, "JPEG")
    (files / "cut.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (files / "bomb.png").write_bytes(png_header_only(20_000, 20_000))
    Image.fromarray(np.asarray(data.coffee())).save(files / "coffee.png")
    me, meme = str(files / "me.png"), str(files / "meme.jpg")
    return {
        "not an image": (["--face", str(files / "notes.jpg"), "--meme", meme], "image.not_image"),
        "truncated jpeg": (["--face", str(files / "cut.jpg"), "--meme", meme], "image.truncated"),
        "decompression bomb": (["--face", me, "--meme", str(files / "bomb.png")], "image.too_many_pixels"),
        "no face in the photo": (["--face", str(files / "coffee.png"), "--meme", meme], "face.none"),
        "no face in the meme": (["--face", me, "--meme", str(files / "coffee.png")], "swap.no_face_in_meme"),
        "missing file": (["--face", str(files / "nope.jpg"), "--meme", meme], "file.unreadable"),
        "no such face number": (["--face", me, "--meme", meme, "--target", "6"], "face.bad_target"),
        "bad target word": (["--face", me, "--meme", meme, "--target", "biggest"], "face.bad_target_spec"),
    }


def test_cli_bad_input_exit_2_nothing_written(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for case, (argv, key) in bad_inputs(files).items():
        out_path = files / "out.jpg"
        code, _, err = run_cli(capsys, *argv, "-o", str(out_path))
        assert code == 2, case
        assert _key_text_shown(err, key), (case, err)
        assert not out_path.exists(), case
        assert not list(files.glob(".*.partial")), case
    for name, key in (("out.txt", "image.output_format"), ("out.gif", "clip.still_meme")):  # a GIF is a clip's
        code, _, err = run_cli(capsys, "--face", str(files / "me.png"), "--meme", str(files / "meme.jpg"), "-o",
                               str(files / name))
        assert code == 2 and _key_text_shown(err, key), name
        assert not (files / name).exists(), name


def _key_text_shown(err: str, key: str) -> bool:
    """The message for `key` was printed (its fixed words, whatever the parameters)."""
    template = render(key, "ko")
    fixed = [part for part in template.replace("}", "{").split("{")[::2] if len(part.strip()) > 3]
    return all(part.strip() in err for part in fixed)


def test_cli_entry_point_prints_no_traceback(files: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "swap", "--face", str(files / "meme.jpg"), "--meme", str(files / "me.png"),
         "-o", str(files / "x.jpg"), "--backend", "insightface", "--models", str(files / "no-models")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "buffalo_l/det_10g.onnx" in done.stderr
    assert not (files / "x.jpg").exists()
