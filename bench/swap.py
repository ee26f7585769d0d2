"""Face swap benchmark: ms per swap with cached target faces, peak RSS, identity distances, contact sheet.

python -m bench.swap [--backend dlib|insightface] [--models DIR] [--out bench/out]

Pairs come from images that ship in installed packages (tests/face_fixtures.py). Identity distance is dlib's
128-d model (< 0.6 = same person): source-to-result must be lower than source-to-original-target. The contact
sheet (source | before | after per pair) is written to bench/out/ to be looked at: numbers are no quality gate.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="dlib")
    parser.add_argument("--models", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()

    start = time.perf_counter()
    engine = load_engine(args.backend, args.models)
    print(f"engine {engine.key}: loaded in {time.perf_counter() - start:.2f} s")
    pairs = build_pairs(engine)
    rows = []
    swap_ms: list[float] = []
    closer = as_expected = 0
    print(f"{'pair':32} {'ms/swap':>8} {'src>before':>10} {'src>after':>10}  result")
    for pair in pairs:
        source, notices = engine.make_source(pair.source)
        times = []
        for _ in range(REPEATS):
            began = time.perf_counter()
            outcome = engine.swap(pair.meme, [pair.target], source)
            times.append((time.perf_counter() - began) * 1000)
        before_crop, after_crop = window(pair.meme, pair.target.bbox), window(outcome.image, pair.target.bbox)
        before = identity_distance(pair.source, before_crop)
        after = identity_distance(pair.source, after_crop)
        did_swap = bool(outcome.swapped)
        as_expected += did_swap == pair.expect_swap
        if did_swap:
            swap_ms.append(median(times))
            closer += after < before
        status = "swapped" if did_swap else f"skipped: {', '.join(outcome.notices)}"
        if did_swap != pair.expect_swap:
            status += "  << UNEXPECTED"
        extra = f" ({', '.join(notices)})" if notices else ""
        print(f"{pair.name:32} {median(times):8.1f} {before:10.3f} {after:10.3f}  {status}{extra}")
        verdict = f"after {after:.3f}" if did_swap else "skipped"
        rows.append(np.hstack([
            cell(source.crop, pair.name),
            cell(before_crop, f"before {before:.3f}"),
            cell(after_crop, verdict + ("" if not did_swap or after < before else " (!)")),
        ]))
    print(f"{len(swap_ms)} swaps: median {median(swap_ms):.1f} ms per face (max {max(swap_ms, default=0):.1f}); "
          f"closer to the source than the original in {closer}/{len(swap_ms)}; "
          f"{as_expected}/{len(pairs)} pairs swapped or skipped as expected; peak RSS {peak_rss_mb():.0f} MB")
    args.out.mkdir(parents=True, exist_ok=True)
    sheet = args.out / f"swap-{args.backend}.png"
    cv2.imwrite(str(sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"contact sheet: {sheet}")


if __name__ == "__main__":
    main()
