"""움짤: animated GIF / WebP and short MP4 / WebM clips (docs/DESIGN.md, "움짤").

- `media`: what a file is (from its header), decoding with the limits checked before any frame is decoded, and
  encoding (H.264 MP4 through PyAV's bundled FFmpeg, animated GIF / WebP through Pillow).
- `swap`: one face followed through the frames, its shape smoothed over time, the person's face swapped onto
  every frame with one colour match for the whole clip.
"""

#: the camera moves a catalog's `animation` may name (core/clips/motion.py makes them)
MOTIONS = ("zoom", "push-in", "shake")
