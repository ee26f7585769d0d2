"""Faces: detection, a registered person's face, and swapping it onto a meme, behind one engine interface.

Backends (docs/DESIGN.md, "Engines"):
- "mesh" (default, models ship in PyPI packages and core/faces/models): dlib's HOG detector and 128-d identity,
  MediaPipe's 468-point 3-D face mesh, the mesh swap (core.faces.mesh_swap).
- "dlib": HOG detector, 68 landmarks, 128-d identity, classical swap (core.faces.swap).
- "insightface": buffalo_l analysis + inswapper_128.onnx from a models folder the operator fills.

Records (`DetectedFace`, `SourceFace`) serialise to numpy npz bytes, never pickle, because they live in a
disk cache and in SQLite. A person's record keeps an aligned face crop, never the original photo.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from core.errors import InputError
from core.limits import Limits

#: side of the aligned face crop kept for a person
CROP_SIZE = 320
#: how a record keeps the crop: JPEG quality 95 without chroma subsampling
CROP_JPEG = (cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444)
#: eye-centre distance inside the crop, as a fraction of its side: leaves room around the face for
#: re-detection (a person registered under one engine is re-analysed by another from this crop)
CROP_EYE_DISTANCE = 0.25

# Five-point layout (eyes, nose tip, mouth corners; image-left first), as in ArcFace's 112 px template.
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


class FaceRecordError(InputError):
    """A stored face record cannot be read back (corrupt or from an incompatible version)."""

    def __init__(self) -> None:
        super().__init__("face.record_invalid")

    def __reduce__(self) -> tuple[type[FaceRecordError], tuple[()]]:
        return (FaceRecordError, ())


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face found in an image: box (x1, y1, x2, y2), the backend's landmarks, 5-point kps, score."""

    bbox: np.ndarray
    landmarks: np.ndarray
    kps: np.ndarray
    score: float

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def area(self) -> float:
        return float(max(0.0, self.bbox[2] - self.bbox[0]) * max(0.0, self.bbox[3] - self.bbox[1]))

    def to_bytes(self) -> bytes:
        return _npz(bbox=self.bbox, landmarks=self.landmarks, kps=self.kps, score=np.array(self.score, np.float32))

    @classmethod
    def from_bytes(cls, data: bytes) -> DetectedFace:
        arrays = _load_npz(data, ("bbox", "landmarks", "kps", "score"))
        face = cls(
            bbox=arrays["bbox"].astype(np.float32),
            landmarks=arrays["landmarks"].astype(np.float32),
            kps=arrays["kps"].astype(np.float32),
            score=float(arrays["score"]),
        )
        if face.bbox.shape != (4,) or face.kps.shape != (5, 2) or face.landmarks.ndim != 2:
            raise FaceRecordError()
        return face


@dataclass(frozen=True, eq=False)
class SourceFace:
    """A registered person's face: aligned crop, its landmarks and kps in crop coordinates, identity."""

    crop: np.ndarray  # (S, S, 3) uint8 RGB
    coverage: np.ndarray  # (S, S) uint8, 255 where the crop shows the photo (not padding past its edge)
    landmarks: np.ndarray
    kps: np.ndarray
    identity: np.ndarray
    engine_key: str
    greyscale: bool = False

    def to_bytes(self) -> bytes:
        # The crop as JPEG (quality 95, full-resolution colour): a record travels with every job (store, queue,
        # worker), and this is a sixth of a PNG's size and decodes in a sixth of the time; its loss (about 0.6
        # of 255 on average) is below what the result's own JPEG adds. The coverage mask stays lossless.
        return _npz(
            crop_jpeg=_encode(".jpg", self.crop[:, :, ::-1], CROP_JPEG),
            coverage_png=_encode(".png", self.coverage),
            landmarks=self.landmarks,
            kps=self.kps,
            identity=self.identity,
            engine_key=np.array(self.engine_key),
            greyscale=np.array(self.greyscale),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SourceFace:
        arrays = _load_npz(data, ("landmarks", "kps", "identity", "engine_key", "greyscale"),
                           optional=("crop_jpeg", "coverage_png", "crop_png"))
        crop, coverage = _decode_crop(arrays)
        face = cls(
            crop=crop,
            coverage=coverage,
            landmarks=arrays["landmarks"].astype(np.float32),
            kps=arrays["kps"].astype(np.float32),
            identity=arrays["identity"].astype(np.float32),
            engine_key=str(arrays["engine_key"]),
            greyscale=bool(arrays["greyscale"]),
        )
        if face.kps.shape != (5, 2) or face.landmarks.ndim != 2 or face.identity.ndim != 1:
            raise FaceRecordError()
        return face


@dataclass(frozen=True, eq=False)
class SwapOutcome:
    """The swapped image; which targets (indices into the given list) were swapped, which skipped and why."""

    image: np.ndarray
    swapped: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...] = field(default=())

    @property
    def notices(self) -> tuple[str, ...]:
        """Message keys for the user, once each."""
        return tuple(dict.fromkeys(reason for _, reason in self.skipped))


class FaceEngine(Protocol):
    #: changes whenever the models or the detection procedure change; part of every cache key
    key: str

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Every face, largest first."""
        ...

    def make_source(self, rgb: np.ndarray) -> tuple[SourceFace, tuple[str, ...]]:
        """The largest face as a person's record, plus notices (message keys). InputError if unusable."""
        ...

    def swap(self, meme_rgb: np.ndarray, targets: Sequence[DetectedFace], source: SourceFace) -> SwapOutcome:
        """Swap the source onto each target (detected by this engine); a source made by another engine is
        re-analysed from its crop first."""
        ...

    def own_source(self, source: SourceFace) -> SourceFace:
        """The record as this engine needs it (re-analysed from its crop when another engine made it)."""
        ...


class EngineBase:
    """What both backends share: choosing and cropping the source face, re-analysing foreign records."""

    key: str

    def __init__(self, limits: Limits | None) -> None:
        self.limits = limits or Limits()

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        raise NotImplementedError

    def identity(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        raise NotImplementedError

    def make_source(self, rgb: np.ndarray) -> tuple[SourceFace, tuple[str, ...]]:
        faces = self.detect(rgb)
        if not faces:
            raise InputError("face.none")
        face = faces[0]
        notices = ["face.several_used_largest"] if len(faces) > 1 else []
        if face.width < self.limits.min_face_px:
            raise InputError("face.too_small", size=round(face.width), min=self.limits.min_face_px)
        matrix = crop_matrix(face.kps)
        crop = cv2.warpAffine(rgb, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)
        coverage = cv2.warpAffine(np.full(rgb.shape[:2], 255, np.uint8), matrix, (CROP_SIZE, CROP_SIZE),
                                  flags=cv2.INTER_NEAREST, borderValue=0)
        landmarks = transform_points(face.landmarks, matrix)
        greyscale = is_greyscale(crop, landmarks)
        if greyscale:
            notices.append("face.greyscale")
        source = SourceFace(
            crop=crop,
            coverage=coverage,
            landmarks=landmarks,
            kps=transform_points(face.kps, matrix),
            identity=self.identity(rgb, face).astype(np.float32),
            engine_key=self.key,
            greyscale=greyscale,
        )
        return source, tuple(notices)

    def paster(self, source: SourceFace) -> Callable[[np.ndarray, DetectedFace], str | None]:
        """A function pasting `source` (this engine's record) onto one target face of an image in place,
        returning a skip reason or None."""
        raise NotImplementedError

    def swap(self, meme_rgb: np.ndarray, targets: Sequence[DetectedFace], source: SourceFace) -> SwapOutcome:
        paste = self.paster(self.own_source(source))
        image = np.array(meme_rgb, dtype=np.uint8, copy=True)
        swapped: list[int] = []
        skipped: list[tuple[int, str]] = []
        for index, target in enumerate(targets):
            reason = paste(image, target)
            if reason is None:
                swapped.append(index)
            else:
                skipped.append((index, reason))
        return SwapOutcome(image=image, swapped=tuple(swapped), skipped=tuple(skipped))

    def own_source(self, source: SourceFace) -> SourceFace:
        """A record made by another engine (or model version) is re-analysed from its crop."""
        if source.engine_key == self.key:
            return source
        return self.make_source(source.crop)[0]


def crop_matrix(kps: np.ndarray) -> np.ndarray:
    """Similarity transform putting the five points where the aligned crop wants them (upright, centred)."""
    eye_distance = float(_TEMPLATE_112[1, 0] - _TEMPLATE_112[0, 0])
    scale = CROP_EYE_DISTANCE * CROP_SIZE / eye_distance
    template = (_TEMPLATE_112 - _TEMPLATE_112.mean(axis=0)) * scale + CROP_SIZE / 2
    matrix, _ = cv2.estimateAffinePartial2D(kps.astype(np.float32), template, method=cv2.LMEDS)
    if matrix is None:  # degenerate points: fall back to the exact least-squares similarity
        matrix = _similarity(kps.astype(np.float64), template.astype(np.float64))
    return matrix


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    denom = float((a**2).sum()) or 1.0
    c = float((a * b).sum()) / denom
    s = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / denom
    rot = np.array([[c, -s], [s, c]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(x, y) through the 2x3 similarity; a third column (depth) is scaled with it."""
    xy = points[:, :2].astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    if points.shape[1] == 2:
        located: np.ndarray = xy.astype(np.float32)
        return located
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    return np.hstack([xy, points[:, 2:] * scale]).astype(np.float32)


def is_greyscale(rgb: np.ndarray, landmarks: np.ndarray) -> bool:
    """True when the face area has (almost) no colour: a black-and-white photo."""
    hull = cv2.convexHull(landmarks[:, :2].astype(np.int32))
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    inside = mask > 0
    if not inside.any():
        return False
    chroma = np.hypot(lab[:, :, 1][inside] - 128, lab[:, :, 2][inside] - 128)
    return float(np.median(chroma)) < 3.0


def files_key(prefix: str, paths: Sequence[Path]) -> str:
    """A short engine key from model file names, sizes and modification times."""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return f"{prefix}-{digest.hexdigest()[:12]}"


def _npz(**arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez(out, allow_pickle=False, version=np.int32(1), **arrays)
    return out.getvalue()


def _encode(ext: str, image: np.ndarray, params: Sequence[int] = ()) -> np.ndarray:
    ok, encoded = cv2.imencode(ext, image, list(params))
    if not ok:
        raise ValueError("cannot encode the face crop")
    return encoded.reshape(-1)


def _decode_crop(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A record's crop (RGB) and coverage mask. Records written before the crop became a JPEG keep both in one
    RGBA PNG, and are read as they are (people registered then keep their face)."""
    if "crop_png" in arrays:
        bgra = cv2.imdecode(arrays["crop_png"].astype(np.uint8), cv2.IMREAD_UNCHANGED)
        if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
            raise FaceRecordError()
        bgr, coverage = bgra[:, :, :3], bgra[:, :, 3]
    elif "crop_jpeg" in arrays and "coverage_png" in arrays:
        colour = cv2.imdecode(arrays["crop_jpeg"].astype(np.uint8), cv2.IMREAD_COLOR)
        mask = cv2.imdecode(arrays["coverage_png"].astype(np.uint8), cv2.IMREAD_GRAYSCALE)
        if colour is None or mask is None or colour.shape[:2] != mask.shape:
            raise FaceRecordError()
        bgr, coverage = colour, mask
    else:
        raise FaceRecordError()
    return np.ascontiguousarray(bgr[:, :, ::-1]), np.ascontiguousarray(coverage)


def _load_npz(data: bytes, names: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if int(npz["version"]) != 1:
                raise FaceRecordError()
            return {name: npz[name] for name in (*names, *(n for n in optional if n in npz.files))}
    except FaceRecordError:
        raise
    except Exception as err:  # zip, npy header and key errors all mean the same: unreadable
        raise FaceRecordError() from err
