"""The default face engine: dlib finds the faces and gives the identity; MediaPipe's face mesh (bundled as
ONNX, core/faces/models) gives 468 3-D landmarks per face; core.faces.mesh_swap swaps."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from core.faces import mesh_swap
from core.faces.base import DetectedFace, EngineBase, SourceFace
from core.faces.dlib_engine import DlibEngine
from core.faces.mesh import MIN_PRESENCE, MODELS, FaceMesh, square_from_68, topology
from core.limits import Limits

#: bump when detection or the mesh procedure changes in a way that should invalidate cached meme faces
_VERSION = "1"


def five_points(mesh: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners (image-left first) from the mesh."""
    topo = topology()
    return np.array(
        [mesh[topo.left_eye, :2].mean(axis=0), mesh[topo.right_eye, :2].mean(axis=0), mesh[1, :2], mesh[61, :2],
         mesh[291, :2]],
        dtype=np.float32,
    )


class MeshEngine(EngineBase):
    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self._dlib = DlibEngine(self.limits)
        self._mesh = FaceMesh()
        digest = hashlib.sha256((MODELS / "face_mesh.onnx").read_bytes()).hexdigest()[:8]
        self.key = f"mesh{_VERSION}-{digest}-{self._dlib.key}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        faces = []
        for face in self._dlib.detect(rgb):
            mesh, presence = self._mesh.refine(rgb, *square_from_68(face.landmarks))
            if presence < MIN_PRESENCE:
                continue
            faces.append(DetectedFace(bbox=face.bbox, landmarks=mesh, kps=five_points(mesh), score=face.score))
        return faces

    def identity(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        points = self._dlib.landmarks_68(rgb, face.bbox)
        return self._dlib.identity(rgb, DetectedFace(face.bbox, points, face.kps, face.score))

    def paster(self, source: SourceFace) -> Callable[[np.ndarray, DetectedFace], str | None]:
        prepared = mesh_swap.MeshSource(source.crop, source.coverage, source.landmarks, source.greyscale)

        def paste(image: np.ndarray, target: DetectedFace) -> str | None:
            if target.landmarks.shape != (468, 3):
                raise ValueError("target faces were detected by another engine: detect them with this one")
            return mesh_swap.paste_face(image, target.landmarks, prepared, self.limits.face_shape)

        return paste
