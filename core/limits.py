"""Every limit the core enforces, named in one place with its default (see bot.config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 500
    max_image_bytes: int = 15 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    # larger pictures are shrunk while decoding (JPEG at 1/2-1/8 scale), so the worst allowed photo stays cheap
    max_decode_pixels: int = 12_000_000
    # formats other than JPEG decode whole first: their pictures are allowed up to this (bench/photo_memory.py)
    max_full_decode_pixels: int = 16_000_000
    min_face_px: int = 40
    max_output_side: int = 1280
    #: a result smaller than this on its long side is brought up to it (Lanczos) before its 자막 is drawn
    min_output_side: int = 640
    #: FFFUSION_MARK: a small visible "FFfusion" mark on every result (off: the XMP provenance stays)
    mark: bool = True
    #: a person's own sentence as 자막 is cut to this many characters, at a word (core/subtitle.py)
    subtitle_max_chars: int = 60
    max_output_bytes: int = 5 * 1024 * 1024
    max_faces_per_person: int = 5
    rate_per_minute: int = 20
    #: people one instance keeps state of in memory (the in-memory rate limiter's windows, recent deletions):
    #: past this the least recently seen go first, so a million people never mean a million entries
    people_in_memory: int = 100_000
    queue_length: int = 32
    # a job (rank, render, register) not answered by then fails with a message and its worker is replaced
    job_timeout_s: float = 20.0
    # with the Redis queue: a job lost with its worker runs again elsewhere once its in-progress mark expires
    # (job_timeout_s + job_rerun_after_s), job_tries runs in all; a caller waits at most
    # job_tries x (job_timeout_s + job_rerun_after_s) + job_wait_margin_s
    job_tries: int = 2
    job_rerun_after_s: float = 2.0
    job_wait_margin_s: float = 5.0
    # a two-step command ("/setface", then the photo on Telegram): how long the bot waits for the second step
    reply_wait_s: float = 600.0
    # the health check gives the store this long to answer
    health_timeout_s: float = 2.0
    #: how far the meme's face shape moves toward the person's in the mesh swap (0 = the meme's, 1 = the
    #: person's). Chosen on bench/swap.py's 5 pairs with the astronaut or Tom Hanks as the person, by how many
    #: count as them (dlib < 0.6: 4 / 4 / 5 / 4 at 0 / 0.4 / 0.7 / 1; mean distance 0.519 / 0.513 / 0.516 /
    #: 0.537); the 10 pairs of the t1 people were held out (7 / 8 / 9 / 7). Measured before the stricter skin
    #: test on the person's photo (core/faces/mesh_swap.py), which moved every figure a little toward the meme
    face_shape: float = 0.7
    #: `fffusion catalog check`: two memes whose caption-and-examples centroids, relative to the catalog's mean, are at
    #: least this similar (cosine) are reported as confusable (core/catalog/check.py)
    confusable_similarity: float = 0.75
    # 움짤 (core/clips): an animated GIF/WebP or a short MP4/WebM clip, checked from its header before any frame
    # is decoded; memory is bounded by clip_max_frames x clip_side², not by the clip
    clip_max_bytes: int = 20 * 1024 * 1024
    clip_max_frames: int = 150
    clip_max_seconds: float = 10.0
    #: pixels of one frame as the file stores it (a frame is decoded whole before it is shrunk)
    clip_max_frame_pixels: int = 2_100_000
    #: frames are shrunk to this long side on decode, swapped and encoded at it
    clip_side: int = 480
    #: how many frames the swap fades in and out beside a frame where the face is gone (no pop)
    clip_handover_frames: int = 2
    #: the face shape's smoothing over time, in frames (a Gaussian's sigma; the head's pose is not smoothed)
    clip_smoothing_frames: float = 1.5
