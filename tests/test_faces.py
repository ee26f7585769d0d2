"""Face engines: detection, a person's record, serialisation, target choice, insightface files and models."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import ConfigError, InputError
from core.faces import insight_engine as face_insight
from core.faces.base import DetectedFace, FaceRecordError, SourceFace
from core.faces.dlib_engine import DlibEngine
from core.faces.engines import choose_targets, load_engine
from core.faces.mesh_engine import MeshEngine
from core.limits import Limits
from core.messages import TEXTS, render
from core.service.pictures import check_target
from tests import face_fixtures as fx


@pytest.fixture(scope="module")
def dlib_engine() -> DlibEngine:
    return DlibEngine()


@pytest.fixture(scope="module")
def group_faces(dlib_engine: DlibEngine) -> list[DetectedFace]:
    return dlib_engine.detect(fx.group_photo())


@pytest.fixture(scope="module")
def astronaut_source(dlib_engine: DlibEngine) -> SourceFace:
    return dlib_engine.make_source(fx.astronaut())[0]


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


# --- dlib backend -------------------------------------------------------------------------------------------

def test_finds_all_six_in_the_group_photo_largest_first(group_faces: list[DetectedFace]) -> None:
    assert len(group_faces) == 6
    areas = [f.area for f in group_faces]
    assert areas == sorted(areas, reverse=True)
    for face in group_faces:
        assert face.landmarks.shape == (68, 2) and face.kps.shape == (5, 2)
        x1, y1, x2, y2 = face.bbox
        assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 886
        # kps are inside the box: eyes above the mouth
        assert face.kps[0, 1] < face.kps[3, 1] and face.kps[1, 1] < face.kps[4, 1]


def test_no_face_in_a_faceless_picture(dlib_engine: DlibEngine) -> None:
    from skimage import data

    assert dlib_engine.detect(np.asarray(data.coffee())) == []
    with pytest.raises(InputError) as caught:
        dlib_engine.make_source(np.asarray(data.coffee()))
    assert caught.value.key == "face.none"


def test_source_record_is_an_aligned_crop_with_the_identity(
    dlib_engine: DlibEngine, astronaut_source: SourceFace
) -> None:
    source = astronaut_source
    assert source.crop.shape == (320, 320, 3) and source.coverage.shape == (320, 320)
    assert source.identity.shape == (128,) and source.engine_key == dlib_engine.key
    assert not source.greyscale
    # upright: the eyes are level and centred in the crop
    assert abs(source.kps[0, 1] - source.kps[1, 1]) < 3
    assert abs(source.kps[:2, 0].mean() - 160) < 8
    # the crop alone is enough to recognise the person again (another engine re-analyses from it)
    again, notices = dlib_engine.make_source(source.crop)
    assert notices == ()
    assert distance(again.identity, source.identity) < 0.3


def test_several_faces_use_the_largest_and_say_so(
    dlib_engine: DlibEngine, group_faces: list[DetectedFace]
) -> None:
    group = fx.group_photo()
    source, notices = dlib_engine.make_source(group)
    assert notices == ("face.several_used_largest",)
    largest = dlib_engine.identity(group, group_faces[0])
    others = [distance(source.identity, dlib_engine.identity(group, f)) for f in group_faces[1:]]
    assert distance(source.identity, largest) < min(others)


def test_too_small_a_face_is_refused() -> None:
    engine = DlibEngine(Limits(min_face_px=200))
    with pytest.raises(InputError) as caught:
        engine.make_source(fx.astronaut())
    assert caught.value.key == "face.too_small"
    assert "200" in render(caught.value.key, "en", **caught.value.params)


def test_greyscale_photo_is_flagged(dlib_engine: DlibEngine) -> None:
    source, notices = dlib_engine.make_source(fx.tom_hanks())
    assert source.greyscale and "face.greyscale" in notices


# --- records ------------------------------------------------------------------------------------------------

def test_records_round_trip_through_bytes_and_pickle(
    group_faces: list[DetectedFace], astronaut_source: SourceFace
) -> None:
    face = group_faces[0]
    back = DetectedFace.from_bytes(face.to_bytes())
    for name in ("bbox", "landmarks", "kps"):
        np.testing.assert_array_equal(getattr(back, name), getattr(face, name))
    assert back.score == pytest.approx(face.score)
    assert pickle.loads(pickle.dumps(face)).landmarks.shape == (68, 2)

    source = SourceFace.from_bytes(astronaut_source.to_bytes())
    # the crop is a JPEG: close to the original, the coverage mask exact
    difference = np.abs(source.crop.astype(int) - astronaut_source.crop)
    assert source.crop.shape == astronaut_source.crop.shape and difference.mean() < 1.5 and difference.max() < 32
    np.testing.assert_array_equal(source.coverage, astronaut_source.coverage)
    np.testing.assert_array_equal(source.identity, astronaut_source.identity)
    assert source.engine_key == astronaut_source.engine_key and source.greyscale is False
    assert len(astronaut_source.to_bytes()) < 80_000  # it travels with every job


def test_a_record_written_with_a_png_crop_still_reads(astronaut_source: SourceFace) -> None:
    """Records stored before the crop became a JPEG kept crop and coverage in one lossless RGBA PNG."""
    ok, png = cv2.imencode(".png", np.dstack([astronaut_source.crop[:, :, ::-1], astronaut_source.coverage]))
    assert ok
    old = io.BytesIO()
    np.savez(old, version=np.int32(1), crop_png=png.reshape(-1), landmarks=astronaut_source.landmarks,
             kps=astronaut_source.kps, identity=astronaut_source.identity,
             engine_key=np.array(astronaut_source.engine_key), greyscale=np.array(False))
    source = SourceFace.from_bytes(old.getvalue())
    np.testing.assert_array_equal(source.crop, astronaut_source.crop)
    np.testing.assert_array_equal(source.coverage, astronaut_source.coverage)
    assert source.engine_key == astronaut_source.engine_key


def test_damaged_or_pickled_records_are_refused(group_faces: list[DetectedFace]) -> None:
    data = group_faces[0].to_bytes()
    smuggled = io.BytesIO()
    np.savez(smuggled, version=np.int32(1), bbox=np.array([object()], dtype=object))
    for bad in (b"", b"garbage", data[: len(data) // 2], smuggled.getvalue()):
        with pytest.raises(FaceRecordError) as caught:
            DetectedFace.from_bytes(bad)
        assert caught.value.key == "face.record_invalid"
    with pytest.raises(FaceRecordError):
        SourceFace.from_bytes(data)  # a DetectedFace is not a person's record
    assert isinstance(pickle.loads(pickle.dumps(FaceRecordError())), FaceRecordError)


# --- choosing targets and engines -----------------------------------------------------------------------------

def test_choose_targets(group_faces: list[DetectedFace]) -> None:
    faces = group_faces
    assert choose_targets(faces, "default") == [0]
    assert choose_targets(faces, "default", [2, 4]) == [2, 4]
    assert choose_targets(faces, "default", [9]) == [0]  # stale catalog choice: the largest
    assert choose_targets(faces, "all") == list(range(6))
    assert choose_targets(faces, "largest") == [0]
    assert choose_targets(faces, 3) == [3]
    assert choose_targets(faces, "5") == [5]
    assert choose_targets([], "default") == [] and choose_targets([], "all") == []
    assert choose_targets(faces, " 2 ") == [2]
    # "²" and other digit signs pass str.isdigit(), and int() refuses "²": only ASCII digits are numbers
    for spec, key in ((6, "face.bad_target"), ("-1", "face.bad_target_spec"), ("biggest", "face.bad_target_spec"),
                      ("²", "face.bad_target_spec"), ("١", "face.bad_target_spec")):
        with pytest.raises(InputError) as caught:
            choose_targets(faces, spec)
        assert caught.value.key == key
        if isinstance(spec, str):
            with pytest.raises(InputError):
                check_target(spec)  # what /swap checks before anything is fetched


def test_load_engine_choices(tmp_path: Path) -> None:
    assert isinstance(load_engine("auto", None), MeshEngine)
    assert isinstance(load_engine("auto", tmp_path), MeshEngine)  # insightface files absent
    assert isinstance(load_engine("dlib", None), DlibEngine)
    for backend, models, key in (("insightface", None, "face.models_dir_missing"), ("mediapipe", None,
                                                                                   "face.backend_unknown")):
        with pytest.raises(ConfigError) as caught:
            load_engine(backend, models)
        assert caught.value.key == key


# --- insightface backend, on stand-in models ------------------------------------------------------------------

@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_insightface_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def insight_engine(models_dir: Path) -> face_insight.InsightFaceEngine:
    engine = load_engine("auto", models_dir)
    assert isinstance(engine, face_insight.InsightFaceEngine)
    return engine


def test_insightface_never_downloads(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"insightface tried to download: {args}")

    # every way into insightface's downloader (the module and the names it is imported under)
    for module, name in (("insightface.utils.download", "download_file"), ("insightface.utils.storage",
                         "download_file"), ("insightface.app.face_analysis", "ensure_available"),
                         ("insightface.model_zoo.model_zoo", "download_onnx")):
        monkeypatch.setattr(importlib.import_module(module), name, refuse)
    monkeypatch.setenv("HOME", str(tmp_path))
    engine = face_insight.InsightFaceEngine(models_dir)
    assert sorted(engine._app.models) == ["detection", "recognition"]
    assert not (tmp_path / ".insightface").exists()


def test_insightface_runs_end_to_end(insight_engine: face_insight.InsightFaceEngine) -> None:
    source, notices = insight_engine.make_source(fx.astronaut())
    assert source.identity.shape == (512,) and notices == ()
    assert abs(float(np.linalg.norm(source.identity)) - 1) < 1e-4
    assert insight_engine.make_source(source.crop)[0].identity.shape == (512,)

    meme = fx.group_photo()
    targets = insight_engine.detect(meme)
    assert len(targets) == 1 and targets[0].kps.shape == (5, 2)
    back = DetectedFace.from_bytes(targets[0].to_bytes())
    outcome = insight_engine.swap(meme, [back], source)
    assert outcome.swapped == (0,) and outcome.image.shape == meme.shape
    changed = np.abs(outcome.image.astype(int) - meme.astype(int)).sum(axis=2) > 0
    x1, y1, x2, y2 = targets[0].bbox.astype(int)
    inside = changed[y1:y2, x1:x2].mean()
    assert inside > 0.2, "INSwapper's output was pasted back over the face"
    assert changed.sum() - changed[y1:y2, x1:x2].sum() < 0.5 * changed.sum()
    assert not changed[:, : max(0, x1 - 200)].any(), "nothing far from the face changes"


def test_insightface_takes_a_person_registered_with_dlib(
    insight_engine: face_insight.InsightFaceEngine, astronaut_source: SourceFace
) -> None:
    meme = fx.group_photo()
    outcome = insight_engine.swap(meme, insight_engine.detect(meme), astronaut_source)
    assert outcome.swapped == (0,)


@pytest.mark.parametrize("missing", ["buffalo_l/det_10g.onnx", "buffalo_l/w600k_r50.onnx", "inswapper_128.onnx"])
def test_insightface_names_the_missing_file(models_dir: Path, tmp_path: Path, missing: str) -> None:
    copy = fx.build_insightface_models(tmp_path / "models")
    (copy / missing).unlink()
    assert face_insight.missing_files(copy) == [copy / missing]
    assert isinstance(load_engine("auto", copy), MeshEngine)
    with pytest.raises(ConfigError) as caught:
        load_engine("insightface", copy)
    assert caught.value.key == "face.model_missing"
    for lang in ("ko", "en"):
        text = render(caught.value.key, lang, **caught.value.params)
        assert missing in text and str(copy / missing) in text


def test_insightface_swapper_inside_the_pack_is_explained(tmp_path: Path) -> None:
    models = fx.build_insightface_models(tmp_path / "models")
    (models / "inswapper_128.onnx").rename(models / "buffalo_l" / "inswapper_128.onnx")
    with pytest.raises(ConfigError) as caught:
        load_engine("insightface", models)
    assert caught.value.key == "face.swapper_misplaced"
    assert str(models / "inswapper_128.onnx") in render(caught.value.key, "en", **caught.value.params)


def test_insightface_damaged_model_file(tmp_path: Path) -> None:
    models = fx.build_insightface_models(tmp_path / "models")
    (models / "buffalo_l" / "det_10g.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ConfigError) as caught:
        load_engine("insightface", models)
    assert caught.value.key == "face.model_broken"


def test_every_face_message_exists_in_both_languages() -> None:
    keys = [k for k in TEXTS if k.startswith(("face.", "swap.", "image."))]
    assert len(keys) >= 20
    for key in keys:
        assert TEXTS[key]["ko"] and TEXTS[key]["en"]
