"""The classical face swap for 68-point landmarks (dlib backend), meme grade.

The source crop is warped triangle by triangle onto the target's landmarks, colour-matched to the target's
skin in LAB (global statistics, then the target's low-frequency lighting), and alpha-blended through a mask
that stays inside the jaw/brow outline, pulled in at the temples so the source's hair never reaches the
cheeks. All work happens in a region of interest around the target face.

Known failures are guarded rather than posted: a source that looks the other way is mirrored; a pose gap
that would still tear triangles skips that face with a reason key.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
OUTER_LIPS = np.arange(48, 60)
#: cheeks and nose, where the skin colour is sampled
CHEEKS = np.array([2, 3, 4, 12, 13, 14, 29, 31, 35])
LEFT_EYE, RIGHT_EYE = np.arange(36, 42), np.arange(42, 48)  # image-left, image-right
NOSE_TIP, CHIN, NOSE_TOP = 30, 8, 27

# 68-point index of each point's mirror image (left and right swap when the face is flipped).
MIRROR_68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)

#: mirror the source when that brings its yaw this many degrees closer to the target's (hysteresis: a mole
#: or a hair parting changes side, so near-frontal faces are left as they are)
MIRROR_GAIN = 7.0
#: larger yaw gaps (degrees, see yaw()) cannot be warped without visible stretching
MAX_YAW_GAP = 27.0
#: skip when triangles covering this share of the face flip or collapse in the source
MAX_TORN_SHARE = 0.04
#: faces are worked on at most at this eye distance (px): the source crop has 80, more is upsampling
WORK_EYES_PX = 90.0
#: faces narrower than this (eye-to-eye under ~8 px) have landmarks too rough to swap
MIN_TARGET_EYES_PX = 8.0
#: limits of the LAB contrast match (L, a, b): past them the source's own shading turns to paint
_GAIN_RANGE = np.array([(0.75, 1.35), (0.5, 1.6), (0.5, 1.6)], dtype=np.float32)
#: mean |a|, |b| (float LAB) of a meme's face under which it is black and white and the face takes no colour
_GREY_CHROMA = 2.0
#: a face's lightness past this percentile of the meme's skin is compressed to this share of the excess
_HIGHLIGHT_PERCENTILE = 99.0
_HIGHLIGHT_KEEP = 0.3
#: lightness bands over which a greyscale person's colour is read from the meme's skin
_LIGHTNESS_BANDS = 12
#: eye openness (height / width, both eyes' mean) difference past which the meme keeps its eyes
_EYE_GAP = 0.08
#: mouth openness (inner lip gap / width) past which a mouth counts as open, and the shape gap (see
#: mouth_shape_gap; the same mouth measures ~0.02, a smile against a neutral mouth ~0.08) past which the
#: meme keeps its mouth
_MOUTH_OPEN = 0.1
_MOUTH_SHAPE_GAP = 0.07
#: skin test: robust z-score (per LAB channel) past which a pixel is not skin, and the least spread assumed
_SKIN_DISTANCE = 3.0
_SKIN_DARKER = 2.0
_SKIN_SPREAD_FLOOR = np.array([2.4, 3.0, 3.0], dtype=np.float32)  # float LAB: L 0..100, a/b about ±100
#: at most about this many reference pixels are used for the skin statistics (medians are costly)
_SKIN_SAMPLE = 3000
_KERNEL3 = np.ones((3, 3), np.uint8)
#: how far the mask's outline is pulled towards the nose: more at the temples, where hair falls
_PULL = np.array([0.18, 0.15, 0.12, 0.09, 0.06, 0.04, 0.03, 0.03, 0.03, 0.03, 0.03, 0.04, 0.06, 0.09, 0.12,
                  0.15, 0.18], dtype=np.float32)


@dataclass(frozen=True)
class Source:
    crop: np.ndarray  # (S, S, 3) uint8 RGB
    coverage: np.ndarray  # (S, S) uint8
    landmarks: np.ndarray  # (68, 2) in crop coordinates
    greyscale: bool = False


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Eyes, nose tip and mouth corners (image-left first) from 68 points."""
    return np.array(
        [landmarks[LEFT_EYE].mean(axis=0), landmarks[RIGHT_EYE].mean(axis=0), landmarks[NOSE_TIP],
         landmarks[48], landmarks[54]],
        dtype=np.float32,
    )


def eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[RIGHT_EYE].mean(axis=0) - landmarks[LEFT_EYE].mean(axis=0)))


def yaw(landmarks: np.ndarray) -> float:
    """Head turn in degrees (0 frontal, > 0 towards the image's right), from where the nose tip sits
    between the jaw's edges along the eye line (on a round head that offset is the sine of the turn)."""
    axis = landmarks[RIGHT_EYE].mean(axis=0) - landmarks[LEFT_EYE].mean(axis=0)
    axis = axis / (np.linalg.norm(axis) or 1.0)
    left = float(np.dot(landmarks[NOSE_TIP] - landmarks[0], axis))
    right = float(np.dot(landmarks[16] - landmarks[NOSE_TIP], axis))
    total = abs(left) + abs(right)
    offset = 0.0 if total == 0 else (left - right) / total
    return float(np.degrees(np.arcsin(np.clip(offset, -1.0, 1.0))))


def mirror(source: Source) -> Source:
    width = source.crop.shape[1]
    flipped = source.landmarks[MIRROR_68].copy()
    flipped[:, 0] = width - 1 - flipped[:, 0]
    return Source(source.crop[:, ::-1].copy(), source.coverage[:, ::-1].copy(), flipped, source.greyscale)


def control_points(landmarks: np.ndarray) -> np.ndarray:
    """The 68 points plus the brows raised a little, so the warp and the mask include the brows whole."""
    up = landmarks[NOSE_TOP] - landmarks[CHIN]
    raised = landmarks[BROWS] + 0.12 * up
    return np.vstack([landmarks, raised]).astype(np.float32)


def mask_outline(landmarks: np.ndarray) -> np.ndarray:
    """Jaw pulled towards the nose (keeps the source's hair and ears out), then the raised brows."""
    centre = landmarks[NOSE_TIP]
    jaw = landmarks[JAW] + (centre - landmarks[JAW]) * _PULL[:, None]
    up = landmarks[NOSE_TOP] - landmarks[CHIN]
    brows = landmarks[BROWS[::-1]] + 0.08 * up
    brows = brows + (centre - brows) * 0.06
    return np.vstack([jaw, brows]).astype(np.float32)


def paste_face(image: np.ndarray, target: np.ndarray, source: Source) -> str | None:
    """Swap the source onto the face with 68 `target` landmarks, in place. Returns a skip reason or None."""
    target_eyes = eye_distance(target)
    if target_eyes < MIN_TARGET_EYES_PX:
        return "swap.target_too_small"
    flip = mirror_plan(yaw(source.landmarks), yaw(target), MAX_YAW_GAP)
    if flip is None:
        return "swap.pose_mismatch"
    if flip:
        source = mirror(source)
    feather = max(2.0, 0.09 * target_eyes)
    area = work_area(image, control_points(target), target_eyes, feather)
    if area is None:
        return "swap.target_too_small"
    rendered = _render(area.work, area.local(target), source, feather * area.scale)
    return blend_back(area.roi, rendered)


def mirror_plan(source_yaw: float, target_yaw: float, max_gap: float) -> bool | None:
    """Whether to mirror the source (hysteresis: only when that brings the yaws MIRROR_GAIN closer), or None
    when the heads are turned more than `max_gap` degrees apart even so. Both swaps decide the pose here."""
    flip = abs(source_yaw + target_yaw) + MIRROR_GAIN < abs(source_yaw - target_yaw)
    gap = abs((-source_yaw if flip else source_yaw) - target_yaw)
    return None if gap > max_gap else flip


@dataclass(frozen=True)
class WorkArea:
    """Where a face is painted: `roi`, a view of the picture around it, and the same region at the working
    scale (`work`), with the map from picture coordinates to `work`'s."""

    roi: np.ndarray
    work: np.ndarray
    scale: float
    origin: np.ndarray
    stretch: np.ndarray

    def local(self, points: np.ndarray) -> np.ndarray:
        local: np.ndarray = (points[:, :2] - self.origin) * self.stretch
        return local


def work_area(image: np.ndarray, span: np.ndarray, target_eyes: float, feather: float) -> WorkArea | None:
    """The region around the points `span` (x, y) plus the feather, or None when it is too small to paint.
    Faces bigger than the source's detail are worked on at a reduced scale (the result is upsampled anyway);
    the meme's own pixels around and inside the kept eyes/mouth stay at full resolution."""
    height, width = image.shape[:2]
    x0, y0 = np.floor(span.min(axis=0) - feather - 2).astype(int)
    x1, y1 = np.ceil(span.max(axis=0) + feather + 2).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    roi = image[y0:y1, x0:x1]
    scale = min(1.0, WORK_EYES_PX / target_eyes)
    work = roi if scale == 1.0 else cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    stretch = np.array([work.shape[1] / roi.shape[1], work.shape[0] / roi.shape[0]], dtype=np.float32)
    return WorkArea(roi, work, scale, np.array([x0, y0], dtype=np.float32), stretch)


def blend_back(roi: np.ndarray, rendered: tuple[np.ndarray, np.ndarray] | str) -> str | None:
    """A face rendered at the working scale (colours, alpha) blended into `roi` (a view of the image) in place;
    a skip reason passes through. Both swaps (this one and core/faces/mesh_swap.py) end here."""
    if isinstance(rendered, str):
        return rendered
    coloured, alpha = rendered
    if coloured.shape[:2] != roi.shape[:2]:
        size = (roi.shape[1], roi.shape[0])
        coloured = cv2.resize(coloured, size, interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
    base = roi.astype(np.float32)
    roi[:] = np.clip(base + (coloured - base) * alpha[:, :, None] + 0.5, 0, 255).astype(np.uint8)
    return None


def _render(roi: np.ndarray, target: np.ndarray, source: Source, feather: float) -> tuple[np.ndarray, np.ndarray] | str:
    """The swapped face for one region (target landmarks in its coordinates): colour-matched RGB (float32)
    and its 0..1 alpha, or a skip reason."""
    target_eyes = eye_distance(target)
    # Shrink the source to about the target's scale first: remapping straight from a much larger crop
    # would alias (no prefilter in remap).
    ratio = target_eyes / max(eye_distance(source.landmarks), 1.0)
    crop, coverage, src_landmarks = source.crop, source.coverage, source.landmarks
    if ratio < 0.8:
        crop = cv2.resize(crop, None, fx=ratio, fy=ratio, interpolation=cv2.INTER_AREA)
        coverage = cv2.resize(coverage, None, fx=ratio, fy=ratio, interpolation=cv2.INTER_AREA)
        src_landmarks = src_landmarks * np.float32(ratio)
    dst_points = control_points(target)
    src_points = control_points(src_landmarks)
    triangles = Delaunay(dst_points).simplices
    if torn_share(dst_points, src_points, triangles) > MAX_TORN_SHARE:
        return "swap.pose_mismatch"
    warped = warp_triangles(np.dstack([crop, coverage]), src_points, dst_points, triangles, roi.shape[:2])

    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(mask_outline(target) * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    mask = np.minimum(mask, warped[:, :, 3])  # never paste padding from past the source photo's edge
    _keep_target_expression(mask, target, src_landmarks)
    src_lab = cv2.cvtColor(warped[:, :, :3].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    dst_lab = cv2.cvtColor(roi.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    _drop_occlusions(mask, target, src_lab, dst_lab)
    inside = mask > 127
    if inside.sum() < 16:
        return "swap.target_too_small"
    coloured = match_colour(src_lab, dst_lab, inside, source.greyscale, target_eyes)
    return coloured, feathered(mask, feather)


def torn_share(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> float:
    """Share of the target's face area in triangles that flip or collapse when mapped from the source."""
    dst_area = signed_areas(dst, triangles)
    src_area = signed_areas(src, triangles)
    # compare shapes, not sizes: normalise each side by its total area
    dst_rel = dst_area / (np.abs(dst_area).sum() or 1.0)
    src_rel = src_area / (np.abs(src_area).sum() or 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = src_rel / dst_rel
    bad = (ratio < 0.2) | ~np.isfinite(ratio)
    return float(np.abs(dst_rel[bad]).sum())


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    areas: np.ndarray = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    return areas


def warp_triangles(
    src: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray, triangles: np.ndarray,
    shape: tuple[int, int],
) -> np.ndarray:
    """Piecewise-affine warp in one remap: label each target pixel with its triangle, map it back to the
    source with that triangle's affine transform."""
    count = len(triangles)
    labels = np.full(shape, -1, np.int32)
    corners = dst_points[triangles]  # (T, 3, 2)
    fixed = np.round(corners * 16).astype(np.int32)  # 4 fractional bits
    for index in range(count):
        cv2.fillConvexPoly(labels, fixed[index], index, shift=4)
    # affine per triangle, target -> source: solve [x y 1] @ A = src for all triangles at once
    ones = np.ones((count, 3, 1), np.float64)
    dst_h = np.concatenate([corners.astype(np.float64), ones], axis=2)  # (T, 3, 3)
    src_t = src_points[triangles].astype(np.float64)  # (T, 3, 2)
    safe = np.abs(signed_areas(dst_points, triangles)) > 5e-7  # det(dst_h) is twice the area
    coeffs = np.zeros((count, 3, 2), np.float64)
    coeffs[safe] = np.linalg.solve(dst_h[safe], src_t[safe])
    # only the pixels some triangle covers are mapped (the face's box, not the whole region, costs the time)
    ys, xs = np.nonzero(labels >= 0)
    which = labels[ys, xs]
    xs, ys = xs.astype(np.float32), ys.astype(np.float32)
    per_pixel = coeffs.astype(np.float32)[which]  # (N, 3, 2)
    mapped = xs[:, None] * per_pixel[:, 0] + ys[:, None] * per_pixel[:, 1] + per_pixel[:, 2]  # (N, 2)
    # A pixel the rasteriser gives to a sliver triangle it barely touches extrapolates that triangle's affine
    # and can land anywhere in the source (a lone dark or white dot): past its triangle's source box it is
    # treated as outside.
    low, high = (src_t.min(axis=1) - 1.0).astype(np.float32), (src_t.max(axis=1) + 1.0).astype(np.float32)
    stray = ((mapped < low[which]) | (mapped > high[which])).any(axis=1)
    mapped[stray] = -1e4
    maps = np.full((*shape, 2), -1e4, np.float32)  # outside every triangle: far outside the source
    maps[labels >= 0] = mapped
    warped: np.ndarray = cv2.remap(src, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped


def match_colour(
    src_lab: np.ndarray, dst_lab: np.ndarray, inside: np.ndarray, greyscale: bool, eyes: float
) -> np.ndarray:
    """The warped source (float LAB) in the target's colours: LAB mean/std inside the face, then the
    target's lighting (low frequencies) with the source's detail (high frequencies). Greyscale sources take
    the target's skin chroma; a black-and-white target keeps its own. Returns float32 RGB 0..255."""
    src_in, dst_in = src_lab[inside], dst_lab[inside]
    low, high = _GAIN_RANGE.T
    gain = np.clip(dst_in.std(axis=0) / np.maximum(src_in.std(axis=0), 1e-3), low, high)
    src_lab = (src_lab - src_in.mean(axis=0)) * gain + dst_in.mean(axis=0)
    weight = inside.astype(np.float32)
    grey_meme = np.abs(dst_in[:, 1:]).mean() < _GREY_CHROMA
    if grey_meme or greyscale:
        src_lab[:, :, 1:] = 0.0  # a greyscale person has no colour to keep; a black-and-white meme gives none
    # Lighting: the target's shading (a shadow on one cheek) at a scale well above the features.
    sigma = 0.45 * eyes
    src_low = masked_blur(src_lab, weight, sigma)
    dst_low = masked_blur(dst_lab, weight, sigma)
    src_lab += (dst_low - src_low) * weight[:, :, None]
    # Highlights past the meme's brightest skin would clip to white (a pale patch on the forehead): compressed.
    cap = float(np.percentile(dst_in[:, 0], _HIGHLIGHT_PERCENTILE))
    lightness = src_lab[:, :, 0]
    src_lab[:, :, 0] = np.where(lightness > cap, cap + (lightness - cap) * _HIGHLIGHT_KEEP, lightness)
    if grey_meme:
        src_lab[:, :, 1:] = dst_lab[:, :, 1:]
    elif greyscale:
        src_lab[:, :, 1:] = _colour_by_lightness(dst_in, src_lab[:, :, 0])
    rgb = cv2.cvtColor(src_lab, cv2.COLOR_LAB2RGB)
    clipped: np.ndarray = np.clip(rgb * 255.0, 0, 255)
    return clipped


def _colour_by_lightness(skin: np.ndarray, lightness: np.ndarray) -> np.ndarray:
    """The (a, b) the target's skin (`skin`: LAB pixels) has at each lightness, read from its own lit and shaded
    parts (median chroma per lightness band): a greyscale person's shadow takes the meme's shadow colour, a
    deeper tone, where one skin colour over a darker L reads grey or olive."""
    low, high = np.percentile(skin[:, 0], (1, 99))
    edges = np.linspace(float(low), float(high), _LIGHTNESS_BANDS + 1)
    band = np.clip(np.searchsorted(edges, skin[:, 0]) - 1, 0, _LIGHTNESS_BANDS - 1)
    centres, chroma = [], []
    for index in range(_LIGHTNESS_BANDS):
        members = skin[band == index]
        if len(members) >= 8:
            centres.append(float(np.median(members[:, 0])))
            chroma.append(np.median(members[:, 1:], axis=0))
    if not centres:
        return np.broadcast_to(np.median(skin[:, 1:], axis=0), (*lightness.shape, 2)).astype(np.float32)
    table = np.array(chroma, np.float32)
    out = np.stack([np.interp(lightness, centres, table[:, channel]) for channel in (0, 1)], axis=-1)
    mapped: np.ndarray = out.astype(np.float32)
    return mapped


def masked_blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that only averages pixels where weight > 0 (normalised convolution), computed at a
    reduced size so a large sigma stays cheap."""
    factor = min(1.0, 4.0 / max(sigma, 1e-3))  # about 4 px of sigma at the reduced size
    height, width = weight.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small_w = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    small_i = cv2.resize(image * weight[:, :, None], size, interpolation=cv2.INTER_AREA)
    blur_sigma = max(0.5, sigma * factor)
    num = cv2.GaussianBlur(small_i, (0, 0), blur_sigma)
    den = cv2.GaussianBlur(small_w, (0, 0), blur_sigma)
    low = num / np.maximum(den, 1e-4)[:, :, None]
    full: np.ndarray = cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)
    return full


def feathered(mask: np.ndarray, radius: float) -> np.ndarray:
    """0..1 alpha that reaches 0 inside the mask's edge: erode by the radius, then blur by it."""
    size = max(1, round(radius))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * size + 1, 2 * size + 1))
    eroded = cv2.erode(mask, kernel)
    alpha = cv2.GaussianBlur(eroded.astype(np.float32) / 255.0, (0, 0), radius / 2)
    return alpha


def mouth_openness(landmarks: np.ndarray) -> float:
    """Inner lip gap over mouth width (0 closed, ~0.3 wide open)."""
    width = float(np.linalg.norm(landmarks[54] - landmarks[48]))
    return float(np.linalg.norm(landmarks[66] - landmarks[62])) / width if width > 0 else 0.0


def mouth_shape_gap(a: np.ndarray, b: np.ndarray) -> float:
    """How differently two mouths are shaped (a smile against a neutral mouth): RMS distance of the 20 lip
    points once each mouth is levelled, centred and scaled to unit width."""
    return float(np.sqrt(((_mouth_shape(a) - _mouth_shape(b)) ** 2).sum(axis=1).mean()))


def _mouth_shape(landmarks: np.ndarray) -> np.ndarray:
    lips = landmarks[48:68].astype(np.float64)
    axis = lips[6] - lips[0]  # corner to corner
    width = float(np.linalg.norm(axis)) or 1.0
    cos, sin = axis / width
    level = np.array([[cos, sin], [-sin, cos]])
    levelled: np.ndarray = (lips - lips.mean(axis=0)) @ level.T / width
    return levelled


def eye_openness(landmarks: np.ndarray, eye: np.ndarray) -> float:
    """Eye height over width (about 0.3 open, under 0.2 shut), both eyes' mean when `eye` is None."""
    p = landmarks[eye]
    width = float(np.linalg.norm(p[3] - p[0]))
    height = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / 2
    return height / width if width > 0 else 0.0


def _keep_target_expression(mask: np.ndarray, target: np.ndarray, source: np.ndarray) -> None:
    """Eyes and mouth come from the source only when they are in the same state as the meme's: an open eye
    squeezed into a shut one leaves a dark smear, closed lips stretched over an open mouth hide the teeth,
    and open lips squeezed shut leave a white seam. Otherwise the meme keeps its own."""
    eyes = (LEFT_EYE, RIGHT_EYE)
    target_eyes = float(np.mean([eye_openness(target, eye) for eye in eyes]))
    source_eyes = float(np.mean([eye_openness(source, eye) for eye in eyes]))
    if abs(target_eyes - source_eyes) > _EYE_GAP:
        for eye in eyes:
            points = target[eye]
            width = float(np.linalg.norm(points[3] - points[0]))
            angle = float(np.degrees(np.arctan2(*(points[3] - points[0])[::-1])))
            centre = points.mean(axis=0)
            cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(width * 0.75), round(width * 0.45)),
                        angle, 0, 360, 0, -1, cv2.LINE_AA)
    if (max(mouth_openness(target), mouth_openness(source)) > _MOUTH_OPEN
            or mouth_shape_gap(target, source) > _MOUTH_SHAPE_GAP):
        lips = target[OUTER_LIPS]
        centre = lips.mean(axis=0)
        grown = centre + (lips - centre) * 1.12
        cv2.fillPoly(mask, [np.round(grown * 16).astype(np.int32)], 0, lineType=cv2.LINE_AA, shift=4)


def _drop_occlusions(mask: np.ndarray, target: np.ndarray, source_lab: np.ndarray, meme_lab: np.ndarray) -> None:
    """drop_occlusions for 68 points: the band outside the brows-to-mouth hull, skin sampled on the cheeks."""
    inner = np.zeros_like(mask)
    cv2.fillConvexPoly(inner, cv2.convexHull(np.round(target[17:68]).astype(np.int32)), 255)
    reference = np.zeros_like(mask)
    cv2.fillConvexPoly(reference, cv2.convexHull(np.round(target[CHEEKS]).astype(np.int32)), 255)
    drop_occlusions(mask, inner, reference, source_lab, meme_lab)


def drop_occlusions(
    mask: np.ndarray, inner: np.ndarray, reference: np.ndarray, source_lab: np.ndarray, meme_lab: np.ndarray,
    source_limits: tuple[float, float] = (_SKIN_DISTANCE, _SKIN_DARKER),
    meme_limits: tuple[float, float] = (_SKIN_DISTANCE, _SKIN_DARKER),
) -> None:
    """Hair, hands or glasses frames on the forehead, cheeks and temples (the mask outside `inner`), in either
    picture, are not skin: there the meme keeps its own pixels. Skin is told by its distance from the median
    colour (LAB) of the `reference` area (the cheeks)."""
    band = (mask > 0) & (inner == 0)
    reference = (reference > 0) & (mask > 0)
    if not band.any() or reference.sum() < 16:
        return
    occluded = np.zeros(mask.shape, bool)
    hits = np.zeros(int(band.sum()), bool)
    step = max(1, int(reference.sum()) // _SKIN_SAMPLE)
    for lab, (distance_limit, darker_limit) in ((source_lab, source_limits), (meme_lab, meme_limits)):
        ref = lab[reference][::step]
        median = np.median(ref, axis=0)
        spread = np.maximum(1.4826 * np.median(np.abs(ref - median), axis=0), _SKIN_SPREAD_FLOOR)
        pixels = lab[band]
        distance = (np.abs(pixels - median) / spread).max(axis=1)
        # hair is mostly darker than skin: a smaller step darker counts too
        darker = (median[0] - pixels[:, 0]) / spread[0]
        hits |= (distance > distance_limit) | (darker > darker_limit)
    occluded[band] = hits
    # Only what reaches the outline is an occlusion; blobs inside the face are shading or freckles.
    rim = (mask > 0) & (cv2.erode(mask, _KERNEL3, iterations=2) == 0)
    _, labels = cv2.connectedComponents(occluded.astype(np.uint8), connectivity=8)
    touching = np.unique(labels[rim & occluded])
    touching = touching[touching > 0]
    if touching.size:
        blob = np.isin(labels, touching).astype(np.uint8) * 255
        mask[cv2.dilate(blob, _KERNEL3) > 0] = 0
