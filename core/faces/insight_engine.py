"""The insightface engine: buffalo_l analysis + inswapper_128.onnx from the operator's models folder.

Layout (docs/DESIGN.md, "Engines"): `<models>/buffalo_l/*.onnx` and `<models>/inswapper_128.onnx` at the root.
The swapper must not sit inside buffalo_l: FaceAnalysis loads every .onnx there and fails on it ('taskname'). Files are
checked before anything loads, and FaceAnalysis is given the folder itself, so it never downloads.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from core.faces.base import DetectedFace, EngineBase, SourceFace, SwapOutcome, files_key
from core.limits import Limits

PACK = "buffalo_l"
SWAPPER = "inswapper_128.onnx"
#: the buffalo_l files this engine uses (the pack's landmark and gender/age models are not needed)
PACK_FILES = ("det_10g.onnx", "w600k_r50.onnx")
_MODULES = ("detection", "recognition")
_PROVIDERS = ["CPUExecutionProvider"]
_DET_SIZE = (640, 640)
#: the swapper works at 128 px: faces much smaller than this come out as mush
_MIN_TARGET_PX = 24.0


def required_files(models_dir: Path) -> list[Path]:
    return [models_dir / PACK / name for name in PACK_FILES] + [models_dir / SWAPPER]


def missing_files(models_dir: Path) -> list[Path]:
    return [path for path in required_files(models_dir) if not path.is_file()]


def check_files(models_dir: Path) -> None:
    """ConfigError naming the first missing or misplaced file and where it belongs."""
    misplaced = models_dir / PACK / SWAPPER
    if misplaced.exists():
        raise ConfigError("face.swapper_misplaced", found=str(misplaced), where=str(models_dir / SWAPPER))
    for path in missing_files(models_dir):
        raise ConfigError("face.model_missing", name=path.relative_to(models_dir).as_posix(), where=str(path))


class InsightFaceEngine(EngineBase):
    def __init__(self, models_dir: Path, limits: Limits | None = None) -> None:
        super().__init__(limits)
        check_files(models_dir)
        from insightface.app import FaceAnalysis
        from insightface.model_zoo import get_model
        from insightface.model_zoo.inswapper import INSwapper

        pack = models_dir / PACK
        self.key = files_key("insightface1", [*sorted(pack.glob("*.onnx")), models_dir / SWAPPER])
        try:
            # A folder path as `name` is used as is (no download); root points at the same folder so that
            # nothing under ~/.insightface is ever consulted.
            self._app = FaceAnalysis(name=str(pack), root=str(models_dir), allowed_modules=list(_MODULES),
                                     providers=_PROVIDERS)
            self._app.prepare(ctx_id=-1, det_size=_DET_SIZE)
            with contextlib.redirect_stdout(io.StringIO()):  # INSwapper prints its input shape
                swapper = get_model(str(models_dir / SWAPPER), providers=_PROVIDERS)
        except Exception as err:  # onnx/onnxruntime raise many types for a damaged file
            raise ConfigError("face.model_broken", path=str(pack), reason=str(err)[:200]) from err
        if "recognition" not in self._app.models:
            raise ConfigError("face.model_broken", path=str(pack / PACK_FILES[1]), reason="not a recogniser")
        if not isinstance(swapper, INSwapper):
            raise ConfigError("face.model_broken", path=str(models_dir / SWAPPER), reason="not an INSwapper")
        self._swapper = swapper

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        det_model = self._app.det_model
        boxes, kpss = det_model.detect(bgr, max_num=0, metric="default")
        faces = [
            DetectedFace(bbox=box[:4].astype(np.float32), landmarks=kps.astype(np.float32),
                         kps=kps.astype(np.float32), score=float(box[4]))
            for box, kps in zip(boxes, kpss if kpss is not None else [], strict=False)
        ]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def identity(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        from insightface.app.common import Face

        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        record = Face(bbox=face.bbox, kps=face.kps, det_score=face.score)
        self._app.models["recognition"].get(bgr, record)
        return np.asarray(record.normed_embedding, dtype=np.float32)

    def swap(self, meme_rgb: np.ndarray, targets: Sequence[DetectedFace], source: SourceFace) -> SwapOutcome:
        from insightface.app.common import Face

        source = self.own_source(source)
        person = Face(embedding=source.identity)
        bgr = np.array(meme_rgb[:, :, ::-1], dtype=np.uint8, copy=True)
        height, width = bgr.shape[:2]
        swapped: list[int] = []
        skipped: list[tuple[int, str]] = []
        for index, target in enumerate(targets):
            if target.width < _MIN_TARGET_PX:
                skipped.append((index, "swap.target_too_small"))
                continue
            # paste_back warps at the size of the image it is given: give it a window around the face.
            x0, y0, x1, y1 = _window(target.bbox, width, height)
            shift = np.array([x0, y0], dtype=np.float32)
            face = Face(bbox=target.bbox - np.tile(shift, 2), kps=target.kps - shift, det_score=target.score)
            window = np.ascontiguousarray(bgr[y0:y1, x0:x1])
            bgr[y0:y1, x0:x1] = self._swapper.get(window, face, person, paste_back=True)
            swapped.append(index)
        return SwapOutcome(image=np.ascontiguousarray(bgr[:, :, ::-1]), swapped=tuple(swapped),
                           skipped=tuple(skipped))


def _window(bbox: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    size = float(max(bbox[2] - bbox[0], bbox[3] - bbox[1]))
    cx, cy = float(bbox[0] + bbox[2]) / 2, float(bbox[1] + bbox[3]) / 2
    half = size * 1.2
    return (max(0, int(cx - half)), max(0, int(cy - half)), min(width, int(cx + half) + 1),
            min(height, int(cy + half) + 1))
