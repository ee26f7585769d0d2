"""The default engine: the bundled face mesh (ONNX) on real photos that ship in packages, the mesh swap, old
records re-analysed, and `fffusion demo` swapping the demo face for ten everyday sentences."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from bot.config import DEMO_CATALOG
from core.catalog.catalog import load_catalog
from core.errors import InputError
from core.faces import mesh_swap
from core.faces.base import DetectedFace, SourceFace
from core.faces.dlib_engine import DlibEngine
from core.faces.mesh import MODELS, FaceMesh, square_from_68, topology
from core.faces.mesh_engine import MeshEngine
from core.images import decode_image
from core.limits import Limits
from tests import face_fixtures as fx
from tests.faceutil import identity_distance


@pytest.fixture(scope="module")
def engine() -> MeshEngine:
    return MeshEngine()


@pytest.fixture(scope="module")
def people(engine: MeshEngine) -> dict[str, DetectedFace]:
    return fx.t1_faces(engine)


@pytest.fixture(scope="module")
def astronaut(engine: MeshEngine) -> SourceFace:
    return engine.make_source(fx.astronaut())[0]


def person_photo(people: dict[str, DetectedFace], name: str) -> np.ndarray:
    return fx.crop_around(fx.group_photo(), people[name].bbox)


def face_window(rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    return fx.crop_around(rgb, face.bbox, margin=0.5)


def demo_meme(engine: MeshEngine, meme_id: str) -> tuple[np.ndarray, DetectedFace]:
    catalog = load_catalog(DEMO_CATALOG)
    meme = next(m for m in catalog.memes if m.id == meme_id)
    rgb = decode_image(catalog.image_bytes(meme), Limits())
    return rgb, engine.detect(rgb)[(meme.faces or (0,))[0]]


# --- the model and the engine ----------------------------------------------------------------------------------

def test_bundled_model_is_small_and_licensed() -> None:
    assert (MODELS / "face_mesh.onnx").stat().st_size < 3_000_000
    assert "Apache License" in (MODELS / "LICENSE").read_text()
    topo = topology()
    assert topo.triangles.shape == (854, 3) and len(topo.face_oval) == 36
    assert np.array_equal(topo.mirror[topo.mirror], np.arange(468))


def test_mesh_lands_on_the_face_dlib_found() -> None:
    """The converted model's 468 points agree with dlib's 68: eye corners and mouth corners within a few px."""
    rgb = fx.astronaut()
    dlib_face = DlibEngine().detect(rgb)[0]
    points, presence = FaceMesh().refine(rgb, *square_from_68(dlib_face.landmarks))
    assert points.shape == (468, 3) and presence > 0.9
    eye_width = float(np.linalg.norm(dlib_face.landmarks[45] - dlib_face.landmarks[36]))
    for mesh_index, dlib_index in ((33, 36), (263, 45), (61, 48), (291, 54), (152, 8)):
        assert np.linalg.norm(points[mesh_index, :2] - dlib_face.landmarks[dlib_index]) < 0.12 * eye_width


def test_no_face_where_there_is_none(engine: MeshEngine) -> None:
    """A face-shaped patch the mesh is given on purpose still scores as no face: presence is checked."""
    _, presence = FaceMesh().run(np.asarray(data.coffee()), np.array([300.0, 200.0]), 200.0, 0.0)
    assert presence < 0.5
    assert engine.detect(np.asarray(data.coffee())) == []
    with pytest.raises(InputError) as caught:
        engine.make_source(np.asarray(data.coffee()))
    assert caught.value.key == "face.none"


def test_all_six_faces_with_3d_landmarks_and_head_pose(people: dict[str, DetectedFace]) -> None:
    for face in people.values():
        assert face.landmarks.shape == (468, 3)
        x1, _, x2, _ = face.bbox
        inside = (face.landmarks[:, 0] > x1 - 0.3 * (x2 - x1)) & (face.landmarks[:, 0] < x2 + 0.3 * (x2 - x1))
        assert inside.all()
    yaws = {name: mesh_swap.yaw(face.landmarks) for name, face in people.items()}
    assert abs(yaws["rachel"]) < 8 and abs(yaws["ross"]) < 8  # frontal
    assert yaws["monica"] < -30 and yaws["joey"] < -30  # turned well to one side
    flipped = MeshEngine().detect(fx.group_photo()[:, ::-1].copy())
    assert any(mesh_swap.yaw(f.landmarks) > 30 for f in flipped)  # the mirror image turns the other way


def test_source_record_carries_the_mesh(astronaut: SourceFace) -> None:
    back = SourceFace.from_bytes(astronaut.to_bytes())
    assert back.landmarks.shape == (468, 3)
    np.testing.assert_array_equal(back.landmarks, astronaut.landmarks)
    assert back.engine_key.startswith("mesh")
    # the crop is upright: eyes level, above the mouth
    left, right = astronaut.landmarks[33], astronaut.landmarks[263]
    assert abs(left[1] - right[1]) < 6 and astronaut.landmarks[13, 1] > left[1] + 40


def test_a_record_from_the_68_point_engine_is_reanalysed(engine: MeshEngine, people: dict[str, DetectedFace]) -> None:
    """People registered before the mesh engine keep working: their crop is re-analysed on first use."""
    old = DlibEngine().make_source(fx.astronaut())[0]
    old = SourceFace.from_bytes(old.to_bytes())  # as stored in SQLite
    assert old.landmarks.shape == (68, 2)
    upgraded = engine.own_source(old)
    assert upgraded.landmarks.shape == (468, 3) and upgraded.engine_key == engine.key
    meme = fx.group_photo()
    outcome = engine.swap(meme, [people["ross"]], old)
    assert outcome.swapped == (0,)
    fresh = engine.swap(meme, [people["ross"]], engine.make_source(fx.astronaut())[0])
    distance = identity_distance(fx.astronaut(), face_window(outcome.image, people["ross"]))
    assert distance < identity_distance(fx.astronaut(), face_window(meme, people["ross"]))
    assert abs(distance - identity_distance(fx.astronaut(), face_window(fresh.image, people["ross"]))) < 0.06


def test_workers_reanalyse_an_old_record_and_hand_it_back(engine: MeshEngine, tmp_path) -> None:
    """An older engine's record is re-analysed and goes back with the answer for the service to store; the worker
    keeps no face of its own."""
    from core.bounded import Bounded
    from core.compute import runtime
    from core.compute.contract import WorkerConfig

    state = runtime.Context(WorkerConfig(tmp_path, tmp_path), None, engine, None, Bounded(1))
    old = DlibEngine().make_source(fx.astronaut())[0].to_bytes()
    source, upgraded = runtime.source_of(state, old)
    assert source is not None and source.landmarks.shape == (468, 3)
    assert upgraded is not None and upgraded.engine == engine.key
    assert SourceFace.from_bytes(upgraded.record).engine_key == engine.key
    current = engine.make_source(fx.tom_hanks())[0]
    assert runtime.source_of(state, current.to_bytes())[1] is None  # a record of this engine is used as it is


# --- the swap -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source_name", "target_name"), [
    ("astronaut", "phoebe"), ("rachel", "phoebe"), ("phoebe", "chandler"), ("chandler", "phoebe"),
])
def test_the_result_looks_like_the_person(
    engine: MeshEngine, people: dict[str, DetectedFace], source_name: str, target_name: str
) -> None:
    """dlib's recogniser (independent of the mesh) counts the swapped face as the person, and closer to them than
    the 68-point swap gets."""
    photo = fx.astronaut() if source_name == "astronaut" else person_photo(people, source_name)
    meme = fx.group_photo()
    outcome = engine.swap(meme, [people[target_name]], engine.make_source(photo)[0])
    assert outcome.swapped == (0,)
    after = identity_distance(photo, face_window(outcome.image, people[target_name]))
    old_engine = DlibEngine()
    old_target = fx.t1_faces(old_engine)[target_name]
    old = old_engine.swap(meme, [old_target], old_engine.make_source(photo)[0])
    assert after < 0.6
    assert after < identity_distance(photo, face_window(old.image, old_target))


def test_the_forehead_is_swapped_and_nothing_outside_the_face_changes(
    engine: MeshEngine, people: dict[str, DetectedFace]
) -> None:
    """Rachel's bare forehead onto Chandler's (Ross's fringe, or the astronaut's, would stay the meme's)."""
    meme = fx.group_photo()
    face = people["chandler"]
    out = engine.swap(meme, [face], engine.make_source(person_photo(people, "rachel"))[0]).image
    changed = np.abs(out.astype(int) - meme).max(axis=2) > 8
    oval = np.zeros(meme.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(face.landmarks[topology().face_oval, :2]).astype(np.int32)], 255)
    grown = cv2.dilate(oval, np.ones((9, 9), np.uint8)) > 0
    assert not changed[~grown].any()
    # the forehead (between the brows and the top of the oval) changed
    brows = face.landmarks[np.concatenate([topology().left_brow, topology().right_brow]), 1].mean()
    top = face.landmarks[10, 1]
    x_mid = round(float(face.landmarks[10, 0]))
    band = changed[int(top + 0.3 * (brows - top)):int(brows - 0.2 * (brows - top)), x_mid - 5:x_mid + 5]
    assert band.mean() > 0.5


def test_the_meme_keeps_its_open_mouth(engine: MeshEngine, people: dict[str, DetectedFace]) -> None:
    """The astronaut smiles with her teeth showing; Rachel's closed mouth swapped in keeps those teeth."""
    meme = fx.astronaut()
    target = engine.detect(meme)[0]
    out = engine.swap(meme, [target], engine.make_source(person_photo(people, "rachel"))[0]).image
    inner = np.zeros(meme.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(target.landmarks[topology().inner_lips, :2]).astype(np.int32)], 255)
    inside = cv2.erode(inner, np.ones((5, 5), np.uint8)) > 0
    assert inside.sum() > 100
    assert np.abs(out[inside].astype(int) - meme[inside]).mean() < 6


def test_a_laughing_mouth_leaves_no_moustache_over_closed_lips(engine: MeshEngine,
                                                                people: dict[str, DetectedFace]) -> None:
    """Chandler laughs with his mouth open; squeezed onto mind-game's closed lips, his stretched upper lip and the
    shadow under his nose made a dark band over Rachel's lip (lightness 32 of 255 under the meme's): the meme
    keeps its lips, and the skin above them stays about as light as the meme's."""
    meme, target = demo_meme(engine, "mind-game")
    out = engine.swap(meme, [target], engine.make_source(person_photo(people, "chandler"))[0]).image
    points = target.landmarks[:, :2]
    band = np.zeros(meme.shape[:2], np.uint8)  # between the upper lip and the nose
    cv2.fillConvexPoly(band, cv2.convexHull(np.round(points[[61, 291, 0, 2, 98, 327]]).astype(np.int32)), 255)
    cv2.fillConvexPoly(band, cv2.convexHull(np.round(points[topology().outer_lips]).astype(np.int32)), 0)

    def lightness(rgb: np.ndarray) -> float:
        return float(np.median(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[:, :, 0][band > 0]))

    assert lightness(out) > lightness(meme) - 15


def test_the_result_is_the_memes_size_for_every_demo_meme(engine: MeshEngine, astronaut: SourceFace) -> None:
    """The swap never shrinks a meme: each demo meme comes back at its own size, its face swapped."""
    catalog = load_catalog(DEMO_CATALOG)
    for meme in catalog.memes:
        rgb = decode_image(catalog.image_bytes(meme), Limits())
        faces = engine.detect(rgb)
        outcome = engine.swap(rgb, [faces[i] for i in (meme.faces or (0,))], astronaut)
        assert outcome.image.shape == rgb.shape, meme.id
        assert outcome.swapped, meme.id


def test_a_face_larger_than_the_persons_crop_gets_the_memes_detail(engine: MeshEngine,
                                                                    people: dict[str, DetectedFace]) -> None:
    """Phoebe's small face onto the astronaut at three times her size: the cheeks carry the meme's fine skin
    texture (at least 40% of its fine detail), not a soft upscale (about 30%)."""
    meme = cv2.resize(fx.astronaut(), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    target = engine.detect(meme)[0]
    out = engine.swap(meme, [target], engine.make_source(person_photo(people, "phoebe"))[0]).image
    cheeks = np.zeros(meme.shape[:2], np.uint8)
    for part in ((50, 117, 118, 101, 36, 205), (280, 346, 347, 330, 266, 425)):
        cv2.fillConvexPoly(cheeks, cv2.convexHull(np.round(target.landmarks[list(part), :2]).astype(np.int32)), 255)

    def fine(rgb: np.ndarray) -> float:
        grey = rgb.astype(np.float32).mean(axis=2)
        return float(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0))[cheeks > 0].mean())

    assert fine(out) > 0.4 * fine(meme)


def test_no_lone_dots_in_the_swapped_face(engine: MeshEngine, astronaut: SourceFace) -> None:
    """The astronaut onto two crops of Rachel in t1.jpg (the old demo's rachel-exam and monica-hungry) left a
    dot under the lip (a pixel the warp gave to a sliver triangle, extrapolated far into her suit): no pixel of
    the face differs from its neighbourhood's median by more than the meme's own most isolated pixel does."""
    def isolated(image: np.ndarray, face: DetectedFace) -> float:
        grey = image.astype(np.float32).mean(axis=2)
        median = cv2.medianBlur(image, 5).astype(np.float32).mean(axis=2)
        return float(fx.crop_around(np.abs(grey - median)[:, :, None], face.bbox, margin=0.0).max())

    group = fx.group_photo()
    for x, y, w, h in ((0, 175, 300, 420), (0, 230, 290, 400)):  # crop = [x, y, width, height]
        rgb = np.ascontiguousarray(group[y:y + h, x:x + w])
        target = engine.detect(rgb)[0]
        out = engine.swap(rgb, [target], astronaut).image
        assert isolated(out, target) <= max(40.0, isolated(rgb, target) * 1.2), (x, y)


def test_a_black_and_white_meme_stays_black_and_white(engine: MeshEngine, people: dict[str, DetectedFace]) -> None:
    """Rachel's colour face onto hanks-knowing (a grey photo) takes no tint (it came out bluish)."""
    meme, target = demo_meme(engine, "hanks-knowing")
    out = engine.swap(meme, [target], engine.make_source(person_photo(people, "rachel"))[0]).image
    lab = cv2.cvtColor(face_window(out, target), cv2.COLOR_RGB2LAB).astype(np.float32)
    assert float(np.percentile(np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128), 99)) < 4


def test_greyscale_source_takes_the_meme_colour(engine: MeshEngine, people: dict[str, DetectedFace]) -> None:
    source, notices = engine.make_source(fx.tom_hanks())
    assert source.greyscale and "face.greyscale" in notices
    meme = fx.group_photo()
    out = engine.swap(meme, [people["chandler"]], source).image
    window = face_window(out, people["chandler"])
    lab = cv2.cvtColor(window, cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128)
    assert float(np.median(chroma)) > 10  # skin coloured, not grey


def test_a_turned_face_past_the_limit_is_skipped(engine: MeshEngine, people: dict[str, DetectedFace]) -> None:
    outcome = engine.swap(fx.group_photo(), [people["joey"]], engine.make_source(person_photo(people, "ross"))[0])
    assert outcome.swapped == () and outcome.notices == ("swap.pose_mismatch",)


def test_a_face_turned_twenty_degrees_takes_a_frontal_one(
    engine: MeshEngine, people: dict[str, DetectedFace], astronaut: SourceFace
) -> None:
    """Chandler is turned ~19 degrees: the 68-point warp managed this one too, the mesh does it in 3-D."""
    assert mesh_swap.yaw(people["chandler"].landmarks) < -12
    outcome = engine.swap(fx.group_photo(), [people["chandler"]], astronaut)
    assert outcome.swapped == (0,)
    assert identity_distance(fx.astronaut(), face_window(outcome.image, people["chandler"])) < 0.6


def test_face_shape_setting(people: dict[str, DetectedFace], astronaut: SourceFace) -> None:
    """face_shape 0 keeps the meme's outline; 1 takes the person's proportions (the outline moves)."""
    target = people["ross"].landmarks
    kept = mesh_swap.shaped_target(target, astronaut.landmarks, 0.0)
    moved = mesh_swap.shaped_target(target, astronaut.landmarks, 1.0)
    np.testing.assert_allclose(kept, target[:, :2])
    oval = topology().face_oval
    assert np.abs(moved[oval] - target[oval, :2]).max() > 3
    # eyes and lips move as one: the meme's expression (eye and mouth openness) is kept
    lips = topology().inner_lips
    shift = moved[lips] - target[lips, :2]
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-4)
    engine = MeshEngine(Limits(face_shape=0.0))
    assert engine.swap(fx.group_photo(), [people["ross"]], astronaut).swapped == (0,)


def test_sharpness_and_grain_follow_the_meme() -> None:
    rng = np.random.default_rng(0)
    inside = np.ones((96, 96), bool)
    sharp = np.clip(128 + rng.normal(0, 20, (96, 96, 3)), 0, 255).astype(np.float32)
    blurry = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    softened = mesh_swap.match_texture(sharp, blurry, inside)
    assert mesh_swap._detail(softened, inside) < 0.5 * mesh_swap._detail(sharp, inside)
    grainy = mesh_swap.match_texture(blurry, sharp, inside)
    assert mesh_swap._detail(grainy, inside) > 2 * mesh_swap._detail(blurry, inside)
    np.testing.assert_array_equal(mesh_swap.match_texture(sharp, sharp, inside), sharp)


def test_exif_rotated_photo_registers_upright(engine: MeshEngine) -> None:
    """A phone photo stored sideways with an EXIF orientation tag is turned upright before the mesh sees it."""
    from PIL import Image

    sideways = Image.fromarray(np.rot90(fx.astronaut()).copy())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to view
    rgb = decode_image(fx.encode(np.asarray(sideways), "JPEG", exif=exif.tobytes(), quality=95), Limits())
    source = engine.make_source(rgb)[0]
    assert source.landmarks[13, 1] > source.landmarks[33, 1] + 40  # mouth below the eyes


# --- fffusion demo ------------------------------------------------------------------------------------------

DEMO_SENTENCES = (
    "시험 완전 망했어 ㅠㅠ",
    "내일 월요일 출근이라니",
    "아 진짜 웃겨 ㅋㅋㅋㅋ",
    "다들 생일 축하해줘서 고마워!!",
    "너무 졸려 자고 싶어",
    "월급 들어왔다 신난다",
    "딱 한 판만 더 하자",
    "드디어 합격했다!",
    "다 때려치우고 떠나고 싶다",
    "주말에 친구들이랑 모이자",
)


def test_demo_swaps_the_demo_face_for_ten_sentences(run_cli, tmp_path) -> None:
    """Each sentence writes a meme with the astronaut's face in it, large enough to see, and nothing on stderr."""
    seen = set()
    for index, sentence in enumerate(DEMO_SENTENCES):
        out = tmp_path / f"meme{index}.png"
        result = run_cli("demo", "-o", str(out), sentence, timeout=300)
        assert result.returncode == 0 and result.stderr == "", (sentence, result.stderr)
        seen.add(result.stdout.rsplit("[", 1)[1].split(",")[0])
        image = decode_image(out.read_bytes(), Limits())
        assert max(image.shape[:2]) >= 400
        assert identity_distance(fx.astronaut(), image) < 0.6, sentence
    assert len(seen) >= 8  # different memes, not one meme ten times
