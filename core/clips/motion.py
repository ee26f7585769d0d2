"""Animated memes made from a still: the camera moves people make 움짤 with (the demo catalog's animated memes,
the tests' and the bench's clips). A virtual camera crops the still frame by frame and scales the crop to the
clip's size, so every frame is a real picture of the same face, moved and zoomed.

- "zoom": the dramatic zoom: a quick push onto the face, then a hold (the "dun dun dun" reaction).
- "push-in": a slow, even push towards the face over the whole clip.
- "shake": a hand-held shake (a fixed pseudo-random path, the same on every machine) around a slight zoom.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from core.clips import MOTIONS
from core.clips.media import Clip, work_size

#: a catalog meme animated from its still: this long, at this rate (a reaction 움짤's usual length)
SECONDS, FPS = 2.4, 15


def animate(
    still: np.ndarray, motion: str, seconds: float, fps: int, side: int,
    focus: tuple[float, float, float] | None = None,
) -> Clip:
    """A clip of `seconds` at `fps` from the RGB `still`, `side` px on its long side. `focus`: (x, y, size) of
    what the camera moves towards (the meme's face), in the still's pixels; the picture's centre by default."""
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; one of {', '.join(MOTIONS)}")
    height, width = still.shape[:2]
    # a small still (a 112 px face crop) is brought up to the side too, as a still meme is brought up to 640 px
    scale = side / max(width, height)
    out_w, out_h = work_size(round(width * scale), round(height * scale), side)
    fx, fy, size = focus if focus is not None else (width / 2, height / 2, min(width, height) / 2)
    count = max(1, round(seconds * fps))
    # the deepest zoom shows about 2.2 of the focus's sizes across the frame's short side
    deepest = max(1.0, min(width, height) / (2.2 * size))
    rng = np.random.default_rng(29)
    shake = rng.normal(0.0, 1.0, (count, 2))
    frames = []
    for index in range(count):
        t = index / max(1, count - 1)
        if motion == "zoom":
            zoom = 1.0 + (deepest - 1.0) * _ease(min(1.0, t / 0.35))
            jitter = np.zeros(2)
        elif motion == "push-in":
            zoom = 1.0 + (min(deepest, 1.35) - 1.0) * t
            jitter = np.zeros(2)
        else:
            zoom = 1.15
            jitter = shake[index] * 0.025 * min(width, height)
        frames.append(_camera(still, (fx, fy), zoom, jitter, (out_w, out_h)))
    return Clip(frames, _durations(count, fps))


def _ease(t: float) -> float:
    """Smooth start and stop (cosine)."""
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _durations(count: int, fps: int) -> list[int]:
    """Whole milliseconds per frame that add up to the clip's exact length (1000/15 is not whole)."""
    ends = [round((index + 1) * 1000 / fps) for index in range(count)]
    return [end - start for start, end in zip([0, *ends], ends, strict=False)]


def _camera(
    still: np.ndarray, focus: tuple[float, float], zoom: float, jitter: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """The still seen through a camera zoomed by `zoom`, its centre moved from the picture's centre toward the
    focus as it zooms in (kept inside the picture), scaled to `size`."""
    height, width = still.shape[:2]
    view_w, view_h = width / zoom, height / zoom
    reach = 1.0 - 1.0 / zoom  # how far toward the focus the camera may have moved at this zoom
    cx = width / 2 + (focus[0] - width / 2) * min(1.0, reach * 3) + jitter[0]
    cy = height / 2 + (focus[1] - height / 2) * min(1.0, reach * 3) + jitter[1]
    cx = min(max(cx, view_w / 2), width - view_w / 2)
    cy = min(max(cy, view_h / 2), height - view_h / 2)
    scale = size[0] / view_w
    scale_y = size[1] / view_h
    matrix = np.array([[scale, 0.0, size[0] / 2 - scale * cx], [0.0, scale_y, size[1] / 2 - scale_y * cy]])
    frame: np.ndarray = cv2.warpAffine(still, matrix, size, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REFLECT)
    return frame
