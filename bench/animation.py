"""The cost of a 움짤: a person's face swapped onto every frame of a clip, finished and encoded.

    python -m bench.animation [--seconds 1 3 6] [--fps 15] [--side 480]

The clip: scikit-image's astronaut under a hand-held shake (core/clips/motion.py) at --fps and --side px, written
as an H.264 MP4 first (the meme as a file); the person: insightface's Tom Hanks. For each length, in a fresh
process (so its peak RSS is its own): decode the MP4, track the face (the mesh followed frame to frame), swap
every frame, draw the mark, encode MP4 (and, timed apart, GIF and WebP). Reported: ms of CPU per frame and CPU per
clip for each stage (time.process_time: this process's, OpenCV's and FFmpeg's threads included), peak RSS after
the models loaded and at the end, and the output's bytes per format. The issue's target: a 3 s, 15 fps, 480 px
clip in at most 1.5 s of CPU. "Before" this there was no figure to give: FFfusion swapped the first frame of an
animated GIF as a still; the still swap of one frame is printed as that reference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib import resources

from bench.common import peak_rss_mb


def one(seconds: float, fps: int, side: int) -> dict[str, float]:
    from skimage import data

    from core.clips import media, motion
    from core.clips.swap import finish_clip, swap_clip, track_face
    from core.faces.engines import load_engine
    from core.images import decode_image
    from core.limits import Limits

    limits = Limits(clip_side=side)
    engine = load_engine("mesh", limits=limits)
    hanks = resources.files("insightface").joinpath("data/images/Tom_Hanks_54745.png").read_bytes()
    source, _ = engine.make_source(decode_image(hanks, limits))
    still = data.astronaut()
    x1, y1, x2, y2 = engine.detect(still)[0].bbox
    meme = media.encode_clip(motion.animate(still, "shake", seconds, fps, side, ((x1 + x2) / 2, (y1 + y2) / 2,
                                                                               x2 - x1)), "mp4")
    loaded = peak_rss_mb()
    figures: dict[str, float] = {"loaded_rss_mb": loaded}

    def timed(name: str, work):  # type: ignore[no-untyped-def]
        start = time.process_time()
        result = work()
        figures[name] = time.process_time() - start
        return result

    clip = timed("decode", lambda: media.decode_clip(meme, limits))
    track = timed("track", lambda: track_face(clip.frames, engine, limits=limits))
    outcome = timed("swap", lambda: swap_clip(clip, source, engine, limits, faces=track))
    done = timed("finish", lambda: finish_clip(outcome.clip, outcome.faces, (), limits))
    encoded = timed("encode_mp4", lambda: media.encode_clip(done, "mp4"))
    figures["frames"] = len(clip.frames)
    figures["swapped"] = sum(outcome.swapped)
    figures["mp4_bytes"] = len(encoded)
    figures["peak_rss_mb"] = peak_rss_mb()
    for fmt in ("gif", "webp"):
        figures[f"{fmt}_bytes"] = len(timed(f"encode_{fmt}", lambda fmt=fmt: media.encode_clip(done, fmt)))
    key = clip.key_frame
    faces = engine.detect(key)
    timed("still_swap", lambda: engine.swap(key, faces[:1], source))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 3.0, 6.0])
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--side", type=int, default=480)
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.fps, args.side)))
        return
    print(f"{args.fps} fps, {args.side} px, shake of the astronaut, Tom Hanks swapped in; CPU seconds (process_time)")
    print("clip  frames  decode  track   swap  finish  mp4 enc  total CPU  ms/frame  RSS loaded/peak MB"
          "  mp4 / gif / webp KB  still swap ms")
    for seconds in args.seconds:
        run = subprocess.run([sys.executable, "-m", "bench.animation", "--one", str(seconds), "--fps", str(args.fps),
                              "--side", str(args.side)], capture_output=True, text=True, check=True)
        f = json.loads(run.stdout.strip().splitlines()[-1])
        total = f["decode"] + f["track"] + f["swap"] + f["finish"] + f["encode_mp4"]
        print(f"{seconds:3.0f} s  {f['frames']:6.0f}  {f['decode']:6.2f}  {f['track']:5.2f}  {f['swap']:5.2f}  "
              f"{f['finish']:6.2f}  {f['encode_mp4']:7.2f}  {total:9.2f}  {1000 * total / f['frames']:8.1f}  "
              f"{f['loaded_rss_mb']:7.0f} / {f['peak_rss_mb']:4.0f}  "
              f"{f['mp4_bytes'] / 1024:5.0f} / {f['gif_bytes'] / 1024:5.0f} / {f['webp_bytes'] / 1024:4.0f}  "
              f"{1000 * f['still_swap']:8.1f}")


if __name__ == "__main__":
    main()
