"""Choosing an engine and the faces it swaps: the one place that knows every backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.errors import ConfigError, InputError
from core.faces import insight_engine
from core.faces.base import DetectedFace, FaceEngine
from core.limits import Limits
from core.text import face_number


def choose_targets(
    faces: Sequence[DetectedFace], spec: str | int, catalog_faces: Sequence[int] | None = None
) -> list[int]:
    """Indices (into `faces`, largest first) to swap: "default" = the catalog's choice, else the largest."""
    if isinstance(spec, str) and (number := face_number(spec)) is not None:
        spec = number
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not 0 <= spec < len(faces):
            raise InputError("face.bad_target", index=spec, count=len(faces))
        return [spec]
    if spec == "all":
        return list(range(len(faces)))
    if spec == "largest":
        return [0] if faces else []
    if spec == "default":
        chosen = [i for i in dict.fromkeys(catalog_faces or ()) if 0 <= i < len(faces)]
        return chosen or ([0] if faces else [])
    raise InputError("face.bad_target_spec", value=str(spec))


def load_engine(backend: str = "auto", models_dir: Path | None = None, limits: Limits | None = None) -> FaceEngine:
    """The configured face engine. "auto" = insightface when all its files are present, else the bundled face
    mesh ("mesh"); "dlib" is the 68-point engine."""
    if backend == "auto":
        backend = "insightface" if models_dir and not insight_engine.missing_files(models_dir) else "mesh"
    if backend == "mesh":
        from core.faces.mesh_engine import MeshEngine

        return MeshEngine(limits)
    if backend == "dlib":
        from core.faces.dlib_engine import DlibEngine

        return DlibEngine(limits)
    if backend == "insightface":
        if models_dir is None:
            raise ConfigError("face.models_dir_missing")
        return insight_engine.InsightFaceEngine(Path(models_dir), limits)
    raise ConfigError("face.backend_unknown", name=backend)
