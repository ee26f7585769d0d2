"""The mesh swap: the person's face, forehead included, warped over the meme's face with 468 3-D landmarks.

- Shape: the person's mesh is turned to the meme's head pose in 3-D (a similarity fit of all points), and the
  meme's outline, nose, eyes and brows move `shape` (Limits.face_shape) of the way toward the person's
  proportions; eyes and mouth
  move whole, so they keep the meme's expression while the person's eyes and lips are warped into it.
- The meme keeps its inner mouth (teeth, an open mouth): the mesh has a hole there.
- Pose: triangles hidden by the meme's head turn are drawn behind the visible ones; triangles the person's
  photo does not show (turned away from the camera) cannot be painted, so the person is mirrored when that
  shows more, and the face is skipped when too much is missing or the turn is past MAX_YAW_GAP.
- Colour: LAB statistics and low-frequency light from the meme (core.swap.match_colour); a greyscale person
  takes the meme's skin colour at each lightness, a black-and-white meme stays so. Texture at the meme's own
  scale: a sharper face is softened, a softer one takes the meme's skin texture (match_texture).
- Hair and glasses over the person's forehead or temples (and the meme's) are left out by a skin test.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from core.faces import swap as classical
from core.faces.mesh import topology

#: larger head-turn gaps (degrees) leave too much of the meme's face unpainted or stretched
MAX_YAW_GAP = 30.0
#: skip when this share of the meme's visible face needs texture the person's photo does not show
MAX_HIDDEN_SHARE = 0.08
# mirroring, the working scale and the smallest face are the classical swap's (core/faces/swap.py)
#: sharpness ratio (person / meme, fine detail in the face) past which the person's face is softened, or
#: grain added to it
_SHARPNESS_SLACK = 1.15
_BLUR_STEPS = (0.5, 0.8, 1.2, 1.8, 2.6)
#: the meme's fine detail taken as skin texture is clipped at this many times its median size (past it: edges)
_TEXTURE_CLIP = 2.5
_KERNEL3 = np.ones((3, 3), np.uint8)
#: holes in the warped face up to this many pixels are the warp's, not the face's (the mouth, a hidden part)
_PINHOLE = 6
#: skin test limits (robust z-scores over the wide skin sample: any LAB channel, darker; core.faces.swap) for
#: the person's photo (strict: a fringe left on the forehead shows as a brown smudge) and for the meme
_SOURCE_SKIN_LIMITS = (2.2, 0.9)
_MEME_SKIN_LIMITS = (2.5, 1.2)
#: how much more open (mouth_openness) the person's mouth may be than the meme's before the meme keeps its lips,
#: and how far its lips' outline is grown then (from their centre)
_MOUTH_GAP = 0.06
_LIPS_GROWN = 1.15
#: ... when the person's upper lip and the skin above it are this much darker (L) than their cheeks (on their own
#: photos: Rachel 6, the astronaut 10, Monica 14, Phoebe 17, Ross and Tom Hanks 23, Chandler 28)
_MOUSTACHE = 20.0
#: mouth corners, the upper lip's top and the nose's base (mesh points); each cheek
_UPPER_LIP = (61, 291, 0, 2, 98, 327)
_CHEEKS = ((50, 101, 118, 117), (280, 330, 347, 346))
#: (outer corner, inner corner, upper lid, lower lid) of the image-left and image-right eye
_EYE_LIDS = ((33, 133, 159, 145), (263, 362, 386, 374))
#: how much less open the person's eye may be than the meme's and still be stretched into it
_EYE_GAP = 0.08


@dataclass(frozen=True)
class MeshSource:
    crop: np.ndarray  # (S, S, 3) uint8 RGB
    coverage: np.ndarray  # (S, S) uint8
    mesh: np.ndarray  # (468, 3) in crop coordinates
    greyscale: bool = False


@functools.cache
def _eye_fans() -> tuple[np.ndarray, np.ndarray]:
    """Triangles over each eye opening (image-left, image-right): the mesh leaves the eyes open, like the
    mouth, whose inside the meme keeps."""
    topo = topology()
    left, right = (np.array([[eye[0], eye[i], eye[i + 1]] for i in range(1, len(eye) - 1)], np.int32)
                   for eye in (topo.left_eye, topo.right_eye))
    return left, right


def eye_openness(mesh: np.ndarray) -> tuple[float, float]:
    """Lid gap over eye width for the image-left and image-right eye (~0.3 open, < 0.15 shut)."""
    result = []
    for outer, inner, upper, lower in _EYE_LIDS:
        width = float(np.linalg.norm(mesh[outer, :2] - mesh[inner, :2]))
        result.append(float(np.linalg.norm(mesh[upper, :2] - mesh[lower, :2])) / width if width else 0.0)
    return result[0], result[1]


def _triangles(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The mesh's triangles, plus each eye's opening when the person's eye is about as open as the meme's
    or more (squeezed shut, it still reads as an eye; a shut eye stretched open smears): otherwise the meme
    keeps its eyeball inside the person's lids."""
    fans = [fan for fan, meme, person in zip(_eye_fans(), eye_openness(target), eye_openness(source), strict=True)
            if person >= meme - _EYE_GAP]
    return np.vstack([topology().triangles, *fans]).astype(np.int32)


@functools.cache
def _expression_groups() -> list[np.ndarray]:
    """Point groups that move as one under the shape transfer, so they keep the meme's expression."""
    topo = topology()
    lips = np.union1d(topo.outer_lips, topo.inner_lips)
    return [topo.left_eye, topo.right_eye, lips]


def mouth_openness(mesh: np.ndarray) -> float:
    """Inner lip gap over mouth width (~0.06 closed, 0.15 a laugh, 0.2 teeth apart)."""
    width = float(np.linalg.norm(mesh[78, :2] - mesh[308, :2]))
    return float(np.linalg.norm(mesh[13, :2] - mesh[14, :2])) / width if width else 0.0


def eye_distance(mesh: np.ndarray) -> float:
    topo = topology()
    return float(np.linalg.norm(mesh[topo.right_eye, :2].mean(axis=0) - mesh[topo.left_eye, :2].mean(axis=0)))


def yaw(mesh: np.ndarray) -> float:
    """Head turn in degrees (0 frontal; the sign says which way) from the 3-D eye and mouth corner lines."""
    across = (mesh[263] - mesh[33]) + (mesh[291] - mesh[61])
    return float(np.degrees(np.arctan2(across[2], across[0])))


def mirror(source: MeshSource) -> MeshSource:
    width = source.crop.shape[1]
    flipped = source.mesh[topology().mirror].copy()
    flipped[:, 0] = width - 1 - flipped[:, 0]
    return MeshSource(source.crop[:, ::-1].copy(), source.coverage[:, ::-1].copy(), flipped, source.greyscale)


def fit_similarity_3d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """src moved onto dst by the best rotation, uniform scale and shift (Umeyama)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rotation = u @ fix @ vt
    scale = float((sigma * np.diag(fix)).sum() / ((a**2).sum() or 1.0))
    moved: np.ndarray = (scale * a @ rotation.T + mu_d).astype(np.float32)
    return moved


def shaped_target(target: np.ndarray, source: np.ndarray, shape: float) -> np.ndarray:
    """The meme's 2-D landmarks moved `shape` of the way to the person's mesh posed like the meme's face."""
    if shape <= 0:
        return target[:, :2].astype(np.float32)
    posed = fit_similarity_3d(source.astype(np.float64), target.astype(np.float64))
    shift = (posed[:, :2] - target[:, :2]) * shape
    for group in _expression_groups():
        shift[group] = shift[group].mean(axis=0)
    shifted: np.ndarray = (target[:, :2] + shift).astype(np.float32)
    return shifted


def paste_face(image: np.ndarray, target: np.ndarray, source: MeshSource, shape: float) -> str | None:
    """Swap the source onto the face with mesh `target` (468, 3), in place. Returns a skip reason or None."""
    target_eyes = eye_distance(target)
    if target_eyes < classical.MIN_TARGET_EYES_PX:
        return "swap.target_too_small"
    flip = classical.mirror_plan(yaw(source.mesh), yaw(target), MAX_YAW_GAP)
    if flip is None:
        return "swap.pose_mismatch"
    if flip:
        source = mirror(source)
    feather = max(2.0, 0.08 * target_eyes)
    dst = shaped_target(target, source.mesh, shape)
    area = classical.work_area(image, np.vstack([dst, target[:, :2]]), target_eyes, feather)
    if area is None:
        return "swap.target_too_small"
    rendered = _render(area.work, area.local(dst), target[:, 2], source, feather * area.scale)
    if isinstance(rendered, str):
        return rendered
    coloured, alpha, skin = rendered
    if area.scale < 1.0:
        # texture is matched at the meme's own scale: a face larger than the person's crop gets the meme's pores
        size = (area.roi.shape[1], area.roi.shape[0])
        coloured = cv2.resize(coloured, size, interpolation=cv2.INTER_CUBIC)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
        skin = cv2.resize(skin, size, interpolation=cv2.INTER_LINEAR)
    coloured = match_texture(coloured, area.roi.astype(np.float32), skin)
    return classical.blend_back(area.roi, (coloured, alpha))


def _render(
    roi: np.ndarray, dst: np.ndarray, depth: np.ndarray, source: MeshSource, feather: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """The person's face over `roi` (dst: the shaped target's points in its coordinates): colour-matched RGB
    (float32), its 0..1 alpha, and the 0..1 weight of its bare skin (where the meme's texture may show)."""
    target_eyes = eye_distance(np.hstack([dst, depth[:, None]]))
    ratio = target_eyes / max(eye_distance(source.mesh), 1.0)
    crop, coverage, src = source.crop, source.coverage, source.mesh[:, :2]
    if ratio < 0.8:
        crop = cv2.resize(crop, None, fx=ratio, fy=ratio, interpolation=cv2.INTER_AREA)
        coverage = cv2.resize(coverage, None, fx=ratio, fy=ratio, interpolation=cv2.INTER_AREA)
        src = src * np.float32(ratio)
    triangles = _triangles(dst, src)
    dst_area = classical.signed_areas(dst, triangles)
    src_area = classical.signed_areas(src, triangles)
    # triangles turn one way on a face toward the camera (tools/convert_face_mesh.py): the other way = hidden
    visible = dst_area > 0
    # visible in the meme but turned away (or collapsed) in the person's photo: nothing to paint there
    hidden = visible & (src_area <= 0.02 * np.abs(src_area).mean())
    if np.abs(dst_area[hidden]).sum() > MAX_HIDDEN_SHARE * np.abs(dst_area[visible]).sum():
        return "swap.pose_mismatch"
    keep = visible & ~hidden
    # far triangles first, so nearer ones cover them where the head turn folds the face
    order = np.argsort(-depth[triangles[keep]].mean(axis=1))
    chosen = triangles[keep][order]
    warped = classical.warp_triangles(np.dstack([crop, coverage]), src, dst, chosen, roi.shape[:2])

    mask = warped[:, :, 3].copy()
    mask[mask < 250] = 0
    mask[mask > 0] = 255
    # lone pixels from past the lips' or a fold's edge show as dots once coloured; pinholes (a stray pixel the warp
    # left out) are filled from around them
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL3)
    _fill_pinholes(warped, mask)
    src_lab = cv2.cvtColor(warped[:, :, :3].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    if mouth_openness(src) > mouth_openness(dst) + _MOUTH_GAP and _upper_lip_shade(src_lab, dst) > _MOUSTACHE:
        # an open (laughing) mouth squeezed shut brings its stretched upper lip and the shadow (or stubble)
        # under the nose over the meme's lip as a dark band, a moustache: the meme keeps its closed lips
        lips = dst[topology().outer_lips]
        centre = lips.mean(axis=0)
        cv2.fillPoly(mask, [np.round(centre + (lips - centre) * _LIPS_GROWN).astype(np.int32)], 0)
    dst_lab = cv2.cvtColor(roi.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    inner, features = _feature_masks(dst, mask.shape, target_eyes)
    # skin is sampled over the whole face but the eyes, brows and lips: a wide sample tolerates shading
    reference = (mask > 0) & (features == 0)
    classical.drop_occlusions(mask, inner, reference.astype(np.uint8), src_lab, dst_lab, _SOURCE_SKIN_LIMITS,
                               _MEME_SKIN_LIMITS)
    inside = mask > 127
    if inside.sum() < 16:
        return "swap.target_too_small"
    coloured = classical.match_colour(src_lab, dst_lab, inside, source.greyscale, target_eyes)
    skin = inside & (features == 0)
    texture = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), max(1.0, feather / 2))
    return coloured, classical.feathered(mask, feather), texture


def _upper_lip_shade(lab: np.ndarray, points: np.ndarray) -> float:
    """How much darker (L, 0..100) the face is between its nose and its mouth's opening than on its cheeks."""
    topo = topology()
    band, cheeks = np.zeros(lab.shape[:2], np.uint8), np.zeros(lab.shape[:2], np.uint8)
    cv2.fillConvexPoly(band, cv2.convexHull(np.round(points[list(_UPPER_LIP)]).astype(np.int32)), 255)
    cv2.fillPoly(band, [np.round(points[topo.inner_lips]).astype(np.int32)], 0)
    for part in _CHEEKS:
        cv2.fillConvexPoly(cheeks, cv2.convexHull(np.round(points[list(part)]).astype(np.int32)), 255)
    lightness = lab[:, :, 0]
    filled = (band > 0) & (lightness > 0)  # not past the warped face's edge
    if filled.sum() < 4 or not (cheeks > 0).any():
        return 0.0
    return float(np.median(lightness[cheeks > 0]) - np.median(lightness[filled]))


def _fill_pinholes(warped: np.ndarray, mask: np.ndarray) -> None:
    """Holes of a few pixels in the warped face's mask filled, in place, from their neighbours."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats((mask == 0).astype(np.uint8), connectivity=4)
    tiny = stats[:, cv2.CC_STAT_AREA] <= _PINHOLE
    tiny[0] = False  # the face's surroundings
    if not tiny.any():
        return
    holes = tiny[labels]
    # the mean of the good pixels in the 5x5 around each hole pixel
    good = (~holes & (mask > 0)).astype(np.float32)
    total = cv2.boxFilter(warped.astype(np.float32) * good[:, :, None], -1, (5, 5), normalize=False)
    count = cv2.boxFilter(good, -1, (5, 5), normalize=False)
    warped[holes] = np.clip(total[holes] / np.maximum(count[holes], 1.0)[:, None] + 0.5, 0, 255).astype(np.uint8)
    mask[holes] = 255


def _feature_masks(points: np.ndarray, shape: tuple[int, ...], eyes: float) -> tuple[np.ndarray, np.ndarray]:
    """The hull of the eyes, brows and lips (the occlusion test looks outside it), and those features
    themselves, grown a little."""
    topo = topology()
    features = np.zeros(shape, np.uint8)
    for part in (topo.left_eye, topo.right_eye, topo.outer_lips, topo.left_brow, topo.right_brow):
        cv2.fillConvexPoly(features, cv2.convexHull(np.round(points[part]).astype(np.int32)), 255)
    size = max(1, round(0.12 * eyes))
    grown: np.ndarray = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * size + 1, 2 * size + 1)))
    parts = np.concatenate([topo.left_eye, topo.right_eye, topo.left_brow, topo.right_brow, topo.outer_lips])
    inner = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(inner, cv2.convexHull(np.round(points[parts]).astype(np.int32)), 255)
    return inner, grown


def _fine(rgb: np.ndarray) -> np.ndarray:
    """The finest detail (and noise): grey minus its 1 px blur."""
    grey = rgb.mean(axis=2)
    fine: np.ndarray = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    return fine


def _detail(rgb: np.ndarray, inside: np.ndarray) -> float:
    """Size of the finest detail in the face: mean |fine detail| over `inside`."""
    return float(np.abs(_fine(rgb)[inside]).mean()) + 1e-3


def match_texture(face: np.ndarray, meme: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Soften a face sharper than the meme's; give a softer one (a small or greyscale photo, a face larger than
    the person's crop) the meme's own skin texture where it is bare skin (`skin`, 0..1): its pores and grain at
    their own places and scale, not noise, with its edges (wrinkles, its features) clipped out."""
    inside = skin > 0.5
    if inside.sum() < 16:
        return face
    meme_fine = _fine(meme)
    meme_detail, face_detail = float(np.abs(meme_fine[inside]).mean()) + 1e-3, _detail(face, inside)
    if face_detail > meme_detail * _SHARPNESS_SLACK:
        for sigma in _BLUR_STEPS:
            softened: np.ndarray = cv2.GaussianBlur(face, (0, 0), sigma)
            if _detail(softened, inside) <= meme_detail * _SHARPNESS_SLACK:
                break
        return softened
    if meme_detail > face_detail * _SHARPNESS_SLACK:
        limit = _TEXTURE_CLIP * float(np.median(np.abs(meme_fine[inside]))) + 1e-3
        texture = np.clip(meme_fine, -limit, limit) * skin
        # detail adds up like noise (squares); texture clipped at its edges carries a little less than measured
        gain = min(1.0, np.sqrt(meme_detail**2 - face_detail**2) / meme_detail)
        textured: np.ndarray = np.clip(face + (gain * texture)[:, :, None], 0, 255)
        return textured
    return face
