"""Time to draw a result's 자막 at 640 px (target: at most 5 ms per result), on the astronaut photo.

    python -m bench.subtitle [--rounds 200]

- a meme's own subtitle: core.subtitle.finish with the overlay cached (every result after the first);
- a person's own sentence: laid out anew each time (a different sentence per round), then drawn;
- a small source: brought up from 320 px to 640 before the 자막 (the upscale is part of finish).
Each figure is the median and 95th percentile over the rounds, the mark included, in wall time and in CPU time
(process_time, which includes OpenCV's threads).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cv2
import numpy as np
from skimage import data

from bench.common import p50_p95
from core.limits import Limits
from core.subtitle import default_lines, draw, finish, layout, sentence_lines

FACE = (218, 95, 332, 208)  # the astronaut's face at 640 px


def timed(rounds: int, work: Callable[[int], object]) -> tuple[list[float], list[float]]:
    """Wall and CPU (time.process_time: this process's, which suffers less when others load the machine)
    milliseconds per round."""
    work(-1)  # the font and the first overlay load once
    wall, cpu = [], []
    for n in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        work(n)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    limits = Limits()
    big = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, :3]), (640, 640), interpolation=cv2.INTER_AREA)
    small = cv2.resize(big, (320, 320), interpolation=cv2.INTER_AREA)
    own = default_lines(["우주에서 보니까", "내 월급이 더 작아 보인다"])
    small_face = tuple(v / 2 for v in FACE)
    sentences = [f"오늘 회사에서 부장님이 또 야근하래 {n}번째" for n in range(-1, args.rounds)]
    overlay = layout(own, 640, 640, [FACE])
    rows = [
        ("meme's own subtitle, cached", timed(args.rounds, lambda n: finish(big, [FACE], own, limits))),
        ("person's sentence, fresh", timed(args.rounds, lambda n: finish(
            big, [FACE], sentence_lines(sentences[n + 1], limits.subtitle_max_chars), limits))),
        ("  of which the layout", timed(args.rounds, lambda n: layout(
            sentence_lines(sentences[n + 1], limits.subtitle_max_chars), 640, 640, [FACE]))),
        ("  of which the blend", timed(args.rounds, lambda n: draw(big, overlay))),
        ("320 px source, up to 640", timed(args.rounds, lambda n: finish(small, [small_face], own, limits))),
    ]
    print(f"{'':30s} {'wall ms':>13s}   {'CPU ms':>13s}   (median / 95th percentile)")
    for name, (wall, cpu) in rows:
        print(f"{name:30s} {p50_p95(wall)}   {p50_p95(cpu)}")
    with open("/proc/loadavg") as fh:  # figures from a busy machine read high: say how busy
        print(f"load average while measuring: {fh.read().split()[0]}")


if __name__ == "__main__":
    main()
