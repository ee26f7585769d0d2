"""The bundled face engine: dlib-bin + face-recognition-models.

Not the `face_recognition` package (docs/DESIGN.md, "Engines")."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import cv2
import dlib
import numpy as np

from core.errors import ConfigError
from core.faces import swap as classical
from core.faces.base import DetectedFace, EngineBase, SourceFace, files_key
from core.limits import Limits

#: bump when detection changes in a way that should invalidate cached meme faces
_VERSION = "1"
#: images are searched at most this large; bigger ones are shrunk for the detector only
_DETECT_SIDE = 1280
#: images up to this size are upsampled once, so faces down to ~40 px are found (HOG alone needs ~80)
_UPSAMPLE_SIDE = 800
#: score a face other than the best must reach; lower ones are mostly patterned clothes and posters
_EXTRA_FACE_SCORE = 0.15


def models_folder() -> Path:
    # face_recognition_models' __init__ imports pkg_resources, gone from recent setuptools: find it without
    # importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("face.model_missing", name="face-recognition-models",
                          where="pip install face-recognition-models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibEngine(EngineBase):
    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(limits)
        folder = models_folder()
        landmarks = folder / "shape_predictor_68_face_landmarks.dat"
        recogniser = folder / "dlib_face_recognition_resnet_model_v1.dat"
        for path in (landmarks, recogniser):
            if not path.is_file():
                raise ConfigError("face.model_missing", name=path.name, where=str(path))
        self.key = files_key(f"dlib{_VERSION}", [landmarks, recogniser])
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(landmarks))
        self._recogniser = dlib.face_recognition_model_v1(str(recogniser))

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rgb = np.ascontiguousarray(rgb)
        scale = min(1.0, _DETECT_SIDE / max(rgb.shape[:2]))
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        upsample = 1 if max(small.shape[:2]) <= _UPSAMPLE_SIDE else 0
        rects, scores, _ = self._detector.run(small, upsample, 0.0)
        best = max(scores, default=0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            if score < _EXTRA_FACE_SCORE and score != best:
                continue
            box = dlib.rectangle(
                round(rect.left() / scale), round(rect.top() / scale),
                round(rect.right() / scale), round(rect.bottom() / scale),
            )
            bbox = np.array([box.left(), box.top(), box.right(), box.bottom()], dtype=np.float32)
            points = self.landmarks_68(rgb, bbox)
            faces.append(DetectedFace(
                bbox=bbox,
                landmarks=points,
                kps=classical.five_points(points),
                score=float(score),
            ))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def landmarks_68(self, rgb: np.ndarray, bbox: np.ndarray) -> np.ndarray:
        box = dlib.rectangle(*(round(float(v)) for v in bbox))
        shape = self._predictor(np.ascontiguousarray(rgb), box)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def identity(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        return descriptor(self._recogniser, rgb, face)

    def paster(self, source: SourceFace) -> Callable[[np.ndarray, DetectedFace], str | None]:
        prepared = classical.Source(source.crop, source.coverage, source.landmarks, source.greyscale)

        def paste(image: np.ndarray, target: DetectedFace) -> str | None:
            if target.landmarks.shape != (68, 2):
                raise ValueError("target faces were detected by another engine: detect them with this one")
            return classical.paste_face(image, target.landmarks, prepared)

        return paste


def descriptor(recogniser: dlib.face_recognition_model_v1, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    """dlib's 128-d identity (same person when the Euclidean distance is below ~0.6)."""
    box = dlib.rectangle(*(round(float(v)) for v in face.bbox))
    parts = dlib.points([dlib.point(round(float(x)), round(float(y))) for x, y in face.landmarks])
    shape = dlib.full_object_detection(box, parts)
    return np.array(recogniser.compute_face_descriptor(np.ascontiguousarray(rgb), shape, 0, 0.25), dtype=np.float32)
