"""The dense face engine (default): dlib finds faces, MediaPipe's face mesh (converted to ONNX, bundled) gives
468 3-D landmarks and the head pose, dlib gives the identity. Swaps with core.mesh_swap.

The mesh model sees a 192 px square around the face, rotated upright (MediaPipe's own procedure: a square 1.5
times the face's extent, turned by the eye line). It runs twice per face: first on a square from dlib's 68
points, then on one from its own landmarks, which centres the forehead and chin the way the model was trained.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

MODELS = Path(__file__).resolve().parent / "models"
MESH_SIZE = 192
#: the square the mesh sees, as a multiple of the landmarks' extent (MediaPipe uses 1.5)
_MESH_SCALE = 1.5
#: dlib's 68 points span brows to chin; the mesh also covers the forehead: grow that square a little more
_FIRST_PASS_SCALE = 1.75
#: below this face-presence probability the mesh is not a face (a poster, a pattern)
MIN_PRESENCE = 0.5


@dataclass(frozen=True)
class Topology:
    triangles: np.ndarray
    face_oval: np.ndarray
    outer_lips: np.ndarray
    inner_lips: np.ndarray
    left_eye: np.ndarray  # image-left on an upright frontal face
    right_eye: np.ndarray
    left_brow: np.ndarray
    right_brow: np.ndarray
    mirror: np.ndarray  # each point's mirror image's index


@functools.cache
def topology() -> Topology:
    with np.load(MODELS / "face_mesh_topology.npz") as parts:
        return Topology(
            triangles=parts["triangles"], face_oval=parts["face_oval"], outer_lips=parts["outer_lips"],
            inner_lips=parts["inner_lips"], left_eye=parts["image_left_eye"], right_eye=parts["image_right_eye"],
            left_brow=parts["image_left_brow"], right_brow=parts["image_right_brow"], mirror=parts["mirror"],
        )


class FaceMesh:
    """468 (x, y, z) points for a face, in image pixels (z: depth at the same scale, smaller = nearer)."""

    def __init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(MODELS / "face_mesh.onnx"), options,
                                             providers=["CPUExecutionProvider"])

    def run(self, rgb: np.ndarray, centre: np.ndarray, size: float, angle: float) -> tuple[np.ndarray, float]:
        """Landmarks for the square of side `size` around `centre`, turned by `angle` (radians, the face's
        roll), and the face-presence probability."""
        cos, sin = np.cos(angle), np.sin(angle)
        scale = MESH_SIZE / size
        # image -> crop: rotate by -angle about the centre, scale, move the centre to the crop's middle
        rot = np.array([[cos, sin], [-sin, cos]]) * scale
        matrix = np.hstack([rot, (MESH_SIZE / 2 - rot @ centre)[:, None]])
        crop = cv2.warpAffine(rgb, matrix, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        tensor = crop.astype(np.float32)[None] / 255.0
        points, flag = self._session.run(None, {"input": tensor})
        points = points.reshape(468, 3).astype(np.float64)
        back = cv2.invertAffineTransform(matrix)
        xy = points[:, :2] @ back[:, :2].T + back[:, 2]
        z = points[:, 2] / scale
        presence = float(1.0 / (1.0 + np.exp(-float(flag.reshape(-1)[0]))))
        return np.hstack([xy, z[:, None]]).astype(np.float32), presence

    def refine(self, rgb: np.ndarray, centre: np.ndarray, size: float, angle: float) -> tuple[np.ndarray, float]:
        """Mesh from a rough square, then again from the square its own landmarks give."""
        points, presence = self.run(rgb, centre, size, angle)
        return self.run(rgb, *square_from_mesh(points))[0], presence


def roll(left_eye: np.ndarray, right_eye: np.ndarray) -> float:
    delta = right_eye - left_eye
    return float(np.arctan2(delta[1], delta[0]))


def square_from_mesh(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """MediaPipe's landmarks-to-crop rule: the eye-corner line gives the roll, the extent along the face's own
    axes (times 1.5) the side."""
    angle = roll(points[33, :2], points[263, :2])
    cos, sin = np.cos(angle), np.sin(angle)
    upright = points[:, :2] @ np.array([[cos, -sin], [sin, cos]])
    low, high = upright.min(axis=0), upright.max(axis=0)
    centre_up = (low + high) / 2
    centre = np.array([[cos, -sin], [sin, cos]]) @ centre_up
    return centre, float((high - low).max() * _MESH_SCALE), angle


def square_from_68(landmarks: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A first square from dlib's 68 points (eyes 36-47)."""
    angle = roll(landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0))
    cos, sin = np.cos(angle), np.sin(angle)
    upright = landmarks.astype(np.float64) @ np.array([[cos, -sin], [sin, cos]])
    low, high = upright.min(axis=0), upright.max(axis=0)
    centre_up = (low + high) / 2
    centre_up[1] -= 0.12 * (high[1] - low[1])  # the mesh reaches up over the forehead
    centre = np.array([[cos, -sin], [sin, cos]]) @ centre_up
    return centre, float((high - low).max() * _FIRST_PASS_SCALE), angle
