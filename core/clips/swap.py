"""A person's face on every frame of a clip, steady over time.

- Track: the chosen face (`target`, as for a still, on the first frame that shows faces) is followed frame to
  frame: the mesh engine re-fits its mesh from the last frame's square (no detector run, MediaPipe's own
  tracking); other engines, or a lost face, run the detector and take the face nearest the last one. A gap of
  up to `_FILL_GAP` frames between two agreeing positions (the detector missing a blurred frame) is filled in
  between them.
- Smooth: the head's pose (position, size, roll) is measured per frame from all landmarks and kept as it is, so
  the face stays on a shaking head; the face's shape in the pose-free frame is smoothed over time
  (`Limits.clip_smoothing_frames`), which removes the landmarks' frame-to-frame jitter without lagging.
- Swap every tracked frame with the engine's own swap; frames where it finds no face, or the swap skips it (a
  head turned away), stay exactly as they were; beside a skipped face the swap fades out and back in over
  `Limits.clip_handover_frames` frames instead of popping (beside a cut or a face gone from the picture it
  stays whole: a fade there would show two faces at once).
- One colour match for the clip: the swap matches each frame's colour to that frame's skin, which flickers as
  the skin sample changes; the face's colour offset from the meme's (LAB, inside the face) is set to the clip's
  median in every frame.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core.clips.media import Clip
from core.errors import InputError
from core.faces.base import DetectedFace, FaceEngine, SourceFace
from core.faces.engines import choose_targets
from core.limits import Limits
from core.lines import Line
from core.subtitle import Box, draw, overlays

#: the detector missing this many frames between two agreeing positions is filled in
_FILL_GAP = 2
#: a followed face whose eye-to-eye size changes more than this share between frames is re-detected
_FOLLOW_SIZE_JUMP = 0.25
#: pixels that the swap changed by more than this (of 255) count as the swapped face
_CHANGED = 3


@dataclass(frozen=True)
class ClipOutcome:
    """The swapped clip; per frame the tracked face (None where there was none) and whether it was swapped;
    notices."""

    clip: Clip
    faces: tuple[DetectedFace | None, ...]
    swapped: tuple[bool, ...]
    notices: tuple[str, ...]

    @property
    def tracked(self) -> tuple[bool, ...]:
        return tuple(face is not None for face in self.faces)


def swap_clip(
    clip: Clip, source: SourceFace, engine: FaceEngine, limits: Limits, target: str | int = "default",
    catalog_faces: Sequence[int] | None = None, faces: Sequence[DetectedFace | None] | None = None,
) -> ClipOutcome:
    """The person's face on the clip's tracked face in every frame. `faces`: a track made before (a catalog
    caches it), else one is made here."""
    track = list(faces) if faces is not None else track_face(clip.frames, engine, target, catalog_faces, limits)
    if not any(face is not None for face in track):
        raise InputError("swap.no_face_in_meme")
    own = engine.own_source(source)
    swapped: list[np.ndarray | None] = []
    reasons: list[str] = []
    for frame, face in zip(clip.frames, track, strict=True):
        if face is None:
            swapped.append(None)
            continue
        outcome = engine.swap(frame, [face], own)
        swapped.append(outcome.image if outcome.swapped else None)
        reasons.extend(outcome.notices)
    done = [image is not None for image in swapped]
    if not any(done):
        raise InputError(reasons[0] if reasons else "swap.no_face_in_meme")
    frames = _finish(clip.frames, swapped, track, limits.clip_handover_frames)
    notices = tuple(dict.fromkeys(reasons))
    return ClipOutcome(Clip(frames, list(clip.durations_ms)), tuple(track), tuple(done), notices)


def track_face(
    frames: Sequence[np.ndarray], engine: FaceEngine, target: str | int = "default",
    catalog_faces: Sequence[int] | None = None, limits: Limits | None = None,
) -> list[DetectedFace | None]:
    """The chosen face in every frame (None where it is not seen), its shape smoothed over time."""
    limits = limits or Limits()
    follow: Callable[[np.ndarray, DetectedFace], DetectedFace | None] | None = getattr(engine, "follow", None)
    track: list[DetectedFace | None] = []
    last: DetectedFace | None = None
    for frame in frames:
        face = follow(frame, last) if follow is not None and last is not None else None
        if face is not None and last is not None and abs(_eyes(face) / _eyes(last) - 1) > _FOLLOW_SIZE_JUMP:
            face = None
        if face is None:
            found = engine.detect(frame)
            if found and last is None and not any(f is not None for f in track):
                face = found[choose_targets(found, target, catalog_faces)[0]]
            elif found:
                face = _nearest(found, last or next(f for f in reversed(track) if f is not None))
        track.append(face)
        last = face
    _fill_gaps(track)
    return _smoothed(track, limits.clip_smoothing_frames)


def _eyes(face: DetectedFace) -> float:
    return float(np.linalg.norm(face.kps[1] - face.kps[0])) or 1.0


def _nearest(found: Sequence[DetectedFace], last: DetectedFace) -> DetectedFace | None:
    """The found face nearest where the tracked one was, when it is within two eye distances (of the larger of
    the two: a zoom moves a face's centre by about its growth)."""
    centre = last.kps.mean(axis=0)
    face = min(found, key=lambda f: float(np.linalg.norm(f.kps.mean(axis=0) - centre)))
    reach = 2 * max(_eyes(last), _eyes(face))
    return face if np.linalg.norm(face.kps.mean(axis=0) - centre) < reach else None


def _fill_gaps(track: list[DetectedFace | None]) -> None:
    """Short gaps between two agreeing faces filled by interpolating their landmarks, in place."""
    known = [i for i, face in enumerate(track) if face is not None]
    for before, after in itertools.pairwise(known):
        gap = after - before - 1
        a, b = track[before], track[after]
        if not 0 < gap <= _FILL_GAP or a is None or b is None or a.landmarks.shape != b.landmarks.shape:
            continue
        moved = float(np.linalg.norm(a.kps.mean(axis=0) - b.kps.mean(axis=0)))
        if moved > 0.5 * _eyes(a) or abs(_eyes(a) / _eyes(b) - 1) > 0.2:
            continue
        for step in range(1, gap + 1):
            share = step / (gap + 1)
            track[before + step] = DetectedFace(
                bbox=(1 - share) * a.bbox + share * b.bbox, landmarks=(1 - share) * a.landmarks + share * b.landmarks,
                kps=(1 - share) * a.kps + share * b.kps, score=min(a.score, b.score))


def _runs(present: Sequence[bool]) -> list[range]:
    """Maximal runs of consecutive True."""
    runs, start = [], None
    for index, value in enumerate([*present, False]):
        if value and start is None:
            start = index
        elif not value and start is not None:
            runs.append(range(start, index))
            start = None
    return runs


def _smoothed(track: list[DetectedFace | None], sigma: float) -> list[DetectedFace | None]:
    """Each run of tracked frames with its face's shape smoothed over time in the pose-free frame."""
    out = list(track)
    for run in _runs([face is not None for face in track]):
        faces = [track[i] for i in run]
        if sigma <= 0 or len(run) < 2 or any(f is None for f in faces):
            continue
        landmarks = np.stack([f.landmarks for f in faces if f is not None]).astype(np.float64)
        steady = smooth_shapes(landmarks, sigma)
        for index, face, points in zip(run, faces, steady, strict=True):
            assert face is not None
            moved = points[:, :2].astype(np.float32) - face.landmarks[:, :2]
            offset = moved.mean(axis=0)  # the face's kps and box follow the landmarks' mean shift
            out[index] = DetectedFace(bbox=face.bbox + np.tile(offset, 2), landmarks=points.astype(np.float32),
                                      kps=face.kps + offset, score=face.score)
    return out


def smooth_shapes(landmarks: np.ndarray, sigma: float) -> np.ndarray:
    """(T, N, 2 or 3) landmarks -> the same with the shape smoothed over T: every frame's points are brought
    onto the first frame's by a 2-D similarity (least squares over all points), averaged there with Gaussian
    weights over time, and taken back by that frame's own similarity. Depth scales with the similarity."""
    xy = landmarks[:, :, 0] + 1j * landmarks[:, :, 1]
    reference = xy[0] - xy[0].mean()
    centres = xy.mean(axis=1, keepdims=True)
    centred = xy - centres
    # z' = a z: the complex a is the similarity's rotation and scale
    spread = (np.abs(centred) ** 2).sum(axis=1, keepdims=True)
    factor = (np.conj(centred) * reference).sum(axis=1, keepdims=True) / spread
    pose_free = centred * factor
    times = np.arange(len(xy))
    weights = np.exp(-0.5 * ((times[:, None] - times[None, :]) / sigma) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    steady = (weights @ pose_free) / factor + centres
    out = landmarks.copy()
    out[:, :, 0], out[:, :, 1] = steady.real, steady.imag
    if landmarks.shape[2] > 2:
        scale = np.abs(factor)
        out[:, :, 2] = (weights @ (landmarks[:, :, 2] * scale)) / scale
    return out


def handover_weights(swapped: Sequence[bool], frames: int) -> np.ndarray:
    """How much of the swap each frame shows: 1, falling to 1/(frames + 1) next to a frame not swapped."""
    count = len(swapped)
    distance = np.full(count, np.inf)
    for index in np.flatnonzero(~np.asarray(swapped, bool)):
        distance = np.minimum(distance, np.abs(np.arange(count) - index))
    return np.where(np.asarray(swapped, bool), np.minimum(1.0, distance / (frames + 1)), 0.0)


def _finish(
    originals: Sequence[np.ndarray], swapped: Sequence[np.ndarray | None], track: Sequence[DetectedFace | None],
    handover: int,
) -> list[np.ndarray]:
    # fade only beside a face the swap left (turned away): where the face is gone (a cut, out of the picture)
    # the swap is whole up to the last frame that shows it
    weights = handover_weights([s is not None or f is None for s, f in zip(swapped, track, strict=True)], handover)
    offsets: dict[int, np.ndarray] = {}
    areas: dict[int, tuple[tuple[slice, slice], np.ndarray]] = {}
    for index, (original, image, face) in enumerate(zip(originals, swapped, track, strict=True)):
        if image is None or face is None:
            continue
        area = _face_area(original, image, face)
        if area is not None:
            areas[index] = area
            region, alpha = area
            inside = alpha > 0.5
            if inside.sum() >= 16:
                offsets[index] = _lab(image[region])[inside].mean(axis=0) - _lab(original[region])[inside].mean(axis=0)
    target = np.median(np.stack(list(offsets.values())), axis=0) if offsets else None
    out = []
    for index, (original, image) in enumerate(zip(originals, swapped, strict=True)):
        if image is None:
            out.append(original)
            continue
        result = image
        if target is not None and index in offsets and index in areas:
            region, alpha = areas[index]
            lab = _lab(image[region]) + (target - offsets[index]) * alpha[:, :, None]
            result = image.copy()
            result[region] = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        weight = float(weights[index])
        if weight < 1.0:
            result = cv2.addWeighted(result, weight, original, 1.0 - weight, 0.0)
        out.append(result)
    return out


def _face_area(
    original: np.ndarray, image: np.ndarray, face: DetectedFace
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The box around the tracked face and, inside it, how much of each pixel the swap changed (0..1, soft)."""
    height, width = original.shape[:2]
    low = np.floor(face.landmarks[:, :2].min(axis=0)).astype(int) - 4
    high = np.ceil(face.landmarks[:, :2].max(axis=0)).astype(int) + 4
    x1, y1 = max(0, int(low[0])), max(0, int(low[1]))
    x2, y2 = min(width, int(high[0])), min(height, int(high[1]))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    region = (slice(y1, y2), slice(x1, x2))
    changed = (np.abs(image[region].astype(np.int16) - original[region]).max(axis=2) > _CHANGED).astype(np.float32)
    return region, cv2.GaussianBlur(changed, (0, 0), 2.0)


def _lab(rgb: np.ndarray) -> np.ndarray:
    lab: np.ndarray = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab


def finish_clip(clip: Clip, track: Sequence[DetectedFace | None], lines: Sequence[Line], limits: Limits) -> Clip:
    """A swapped clip made ready to send: the 자막 and the mark (as on a still, core/subtitle.py) drawn on every
    frame at one place, clear of where the face is in any frame. Frames stay at the clip's size: bringing 480
    px up to a still's 640 would cost every frame a resize and the file a third more."""
    height, width = clip.frames[0].shape[:2]
    corners = (face.bbox.round().astype(int).tolist() for face in track if face is not None)
    boxes: tuple[Box, ...] = tuple(dict.fromkeys((x1, y1, x2, y2) for x1, y1, x2, y2 in corners))
    drawn = overlays(width, height, boxes, lines, limits)
    return Clip([draw(frame, *drawn) for frame in clip.frames], list(clip.durations_ms))
