"""Face swap benchmark: ms per swap with cached target faces, peak RSS, identity distances, contact sheet.

python -m bench.swap [--before dlib] [--after mesh|insightface] [--models DIR] [--shape 0.7] [--out bench/out]

Pairs come from images that ship in installed packages (tests/face_fixtures.py). Identity distance is dlib's
128-d model (< 0.6 = same person), from the source photo to the swapped face: no package ships a second photo
of any of these people, so the source photo itself is the reference (lower is closer). The contact sheet
(source crop | meme | before | after per pair) is written to bench/out/ to be looked at: numbers are no
quality gate. Times are per swap with the meme's faces and the person's record already made (cached).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.common import median, peak_rss_mb
from core.faces.base import DetectedFace, FaceEngine
from core.faces.engines import load_engine
from core.limits import Limits
from tests import face_fixtures as fx
from tests.faceutil import identity_distance

REPEATS = 20
CELL = 220


@dataclass(frozen=True)
class Pair:
    name: str
    source: np.ndarray  # a picture of one person
    meme: np.ndarray
    target: DetectedFace
    expect_swap: bool


def build_pairs(engine: FaceEngine) -> list[Pair]:
    group = fx.group_photo()
    people = sorted(engine.detect(group), key=lambda f: float(f.bbox[0] + f.bbox[2]))
    if len(people) != len(fx.T1_PEOPLE):
        raise SystemExit(f"expected {len(fx.T1_PEOPLE)} faces in t1.jpg, found {len(people)}")
    t1 = dict(zip(fx.T1_PEOPLE, people, strict=True))
    astro, hanks = fx.astronaut(), fx.tom_hanks()
    astro_face = engine.detect(astro)[0]
    hanks_big = cv2.resize(hanks, (336, 336), interpolation=cv2.INTER_CUBIC)  # a 112 px meme is too small
    hanks_face = engine.detect(hanks_big)[0]
    astro_big = cv2.resize(astro, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # a close-up meme
    astro_big_face = engine.detect(astro_big)[0]

    def person(name: str) -> np.ndarray:
        return fx.crop_around(group, t1[name].bbox)

    swaps = [
        ("astronaut>ross", astro, group, t1["ross"]),
        ("astronaut>rachel", astro, group, t1["rachel"]),
        ("astronaut>phoebe", astro, group, t1["phoebe"]),
        ("ross>astronaut", person("ross"), astro, astro_face),
        ("rachel>astronaut", person("rachel"), astro, astro_face),
        ("phoebe>astronaut(1536px)", person("phoebe"), astro_big, astro_big_face),
        ("ross>rachel", person("ross"), group, t1["rachel"]),
        ("rachel>ross", person("rachel"), group, t1["ross"]),
        ("rachel>phoebe", person("rachel"), group, t1["phoebe"]),
        ("phoebe>rachel", person("phoebe"), group, t1["rachel"]),
        ("phoebe>chandler", person("phoebe"), group, t1["chandler"]),
        ("chandler>phoebe", person("chandler"), group, t1["phoebe"]),
        ("monica>joey", person("monica"), group, t1["joey"]),
        ("hanks(grey,mirrored)>chandler", hanks, group, t1["chandler"]),
        ("hanks(grey,mirrored)>phoebe", hanks, group, t1["phoebe"]),
    ]
    # Pose gaps a 2-D warp cannot bridge: these must be skipped, not posted torn.
    guards = [
        ("ross>joey", person("ross"), group, t1["joey"]),
        ("chandler>monica", person("chandler"), group, t1["monica"]),
        ("monica>rachel", person("monica"), group, t1["rachel"]),
        ("astronaut>hanks", astro, hanks_big, hanks_face),
    ]
    return [Pair(*row, expect_swap=True) for row in swaps] + [Pair(*row, expect_swap=False) for row in guards]


def window(rgb: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    return fx.crop_around(rgb, bbox, margin=0.5)


def cell(rgb: np.ndarray, label: str = "") -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = CELL / max(height, width)
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    out = np.full((CELL + 22, CELL, 3), 255, np.uint8)
    out[: small.shape[0], : small.shape[1]] = small
    cv2.putText(out, label, (4, CELL + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return out


@dataclass
class Result:
    ms: float  # wall clock, median
    cpu_ms: float  # this process's CPU time, median: less swayed by other work on a shared machine
    distance: float  # source photo to the swapped face (dlib, < 0.6 = same person)
    swapped: bool
    notices: tuple[str, ...]
    crop: np.ndarray
    source_crop: np.ndarray


def run_engine(engine: FaceEngine) -> tuple[list[Pair], list[Result]]:
    """Every pair through one engine: its own detections, the source made once (cached, as in the service)."""
    pairs = build_pairs(engine)
    results = []
    for pair in pairs:
        source, _ = engine.make_source(pair.source)
        times, cpu = [], []
        for _ in range(REPEATS):
            began, began_cpu = time.perf_counter(), time.process_time()
            outcome = engine.swap(pair.meme, [pair.target], source)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        crop = window(outcome.image, pair.target.bbox)
        results.append(Result(median(times), median(cpu), identity_distance(pair.source, crop), bool(outcome.swapped),
                              outcome.notices, crop, source.crop))
    return pairs, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="dlib", help="engine to compare against (the 68-point swap)")
    parser.add_argument("--after", default="mesh", help="engine measured (the default mesh swap)")
    parser.add_argument("--models", type=Path)
    parser.add_argument("--shape", type=float, default=Limits().face_shape, help="face_shape for the mesh swap")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()

    limits = Limits(face_shape=args.shape)
    runs = {}
    for label in (args.before, args.after):
        start = time.perf_counter()
        engine = load_engine(label, args.models, limits)
        print(f"{label}: engine {engine.key} loaded in {time.perf_counter() - start:.2f} s")
        runs[label] = run_engine(engine)
    pairs, before = runs[args.before]
    _, after = runs[args.after]
    print(f"\nidentity distance to the source photo (dlib, < 0.6 = same person); face_shape {args.shape}")
    print(f"{'pair':32} {'original':>8} {args.before:>8} {args.after:>8} {'ms':>6} {'cpu ms':>6}  result")
    rows = []
    for pair, b, a in zip(pairs, before, after, strict=True):
        original = identity_distance(pair.source, window(pair.meme, pair.target.bbox))
        status = "swapped" if a.swapped else f"skipped: {', '.join(a.notices)}"
        if a.swapped != pair.expect_swap:
            status += " (expected a swap)" if pair.expect_swap else " (a pose gap the 68-point warp skips)"
        cells = [f"{r.distance:8.3f}" if r.swapped else "    skip" for r in (b, a)]
        print(f"{pair.name:32} {original:8.3f} {cells[0]} {cells[1]} {a.ms:6.1f} {a.cpu_ms:6.1f}  {status}")
        rows.append(np.hstack([
            cell(a.source_crop, pair.name),
            cell(window(pair.meme, pair.target.bbox), f"meme {original:.3f}"),
            cell(b.crop, f"{args.before} " + (f"{b.distance:.3f}" if b.swapped else "skipped")),
            cell(a.crop, f"{args.after} " + (f"{a.distance:.3f}" if a.swapped else "skipped")),
        ]))
    for label, results in ((args.before, before), (args.after, after)):
        done = [r for r, p in zip(results, pairs, strict=True) if r.swapped and p.expect_swap]
        distances = [r.distance for r in done]
        print(f"{label:>8}: {len(done)} of {sum(p.expect_swap for p in pairs)} swappable pairs swapped; "
              f"same person (< 0.6) in {sum(d < 0.6 for d in distances)}; mean distance "
              f"{np.mean(distances) if distances else float('nan'):.3f}; "
              f"median per swap {median([r.ms for r in done]):.1f} ms "
              f"(CPU {median([r.cpu_ms for r in done]):.1f} ms; max {max((r.ms for r in done), default=0):.1f})")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    args.out.mkdir(parents=True, exist_ok=True)
    sheet = args.out / f"swap-{args.before}-vs-{args.after}.png"
    cv2.imwrite(str(sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"contact sheet: {sheet}")


if __name__ == "__main__":
    main()
