"""Face swap benchmark: ms per swap with cached target faces, peak RSS, identity distances, a seam figure.

python -m bench.swap [--before dlib] [--after mesh|insightface] [--models DIR] [--shape 0.7] [--out bench/out]

Pairs come from images that ship in installed packages (tests/face_fixtures.py). Identity distance is dlib's
128-d model (< 0.6 = same person, lower is closer), two ways:
- "same photo": from the source photo to the face swapped from it. No package ships a second photo of any of
  these people, so this rewards carrying the photo's own light and texture over, not only the person.
- "restaged" (harder): the person registers a copy of the photo the bench re-lit (a strong side light, a warmer
  tint, a gamma), re-posed (turned and tilted by a perspective warp) and re-compressed (JPEG 70), and the swap
  is judged against the untouched photo mirrored: light, tint, pixels and the face's left-right quirks no
  longer match by themselves (re-lighting alone moved nothing: the colour match undoes it). The expression and
  the hair still match, so it is still kinder than a truly different photo of the person would be.
Seam: the colour step (CIE76 delta E, Lab) between a ring inside the border of the region the swap changed (past
the feathered blend, 0.25-0.45 eye distances in) and a ring just outside it, per sector (16 around the face),
averaged; beside it the step across the same rings in the untouched meme (a seam that does not show is about
as large as the meme's own).
The contact sheet (source crop | meme | before | after per pair) is written to bench/out/ to be looked at:
numbers are no quality gate (python -m bench.contact_sheet shows every demo meme). Times are per swap with the
meme's faces and the person's record already made (cached).
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
#: the seam rings, in eye distances from the pasted face's border (inside, outside), and the sectors around it
RING_INSIDE = (0.25, 0.45)
RING_OUTSIDE = (0.02, 0.15)
SECTORS = 16


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


def restage(rgb: np.ndarray) -> np.ndarray:
    """The same photo as if taken again: turned and tilted a little (perspective), lit from the upper left with
    a warmer tint and another gamma, saved as a phone's JPEG."""
    height, width = rgb.shape[:2]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    shift = np.float32([[0.02, 0.03], [-0.06, 0.07], [-0.06, -0.07], [0.02, -0.03]]) * np.float32([width, height])
    moved = (corners + shift).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(corners, moved)
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 6.0, 1.0)
    matrix = np.vstack([turn, [0, 0, 1]]) @ matrix
    posed = cv2.warpPerspective(rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1.25 - 0.55 * (xs / width * 0.7 + ys / height * 0.3)  # bright upper left, dim lower right
    lit = (posed.astype(np.float32) / 255.0) ** 0.85 * light[:, :, None] * np.float32([1.06, 1.0, 0.88])
    ok, jpeg = cv2.imencode(".jpg", np.clip(lit * 255 + 0.5, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED).reshape(rgb.shape)


def seam(result: np.ndarray, meme: np.ndarray, eyes: float) -> tuple[float, float]:
    """The Lab colour step (delta E) across the pasted face's border in the result, and across the same border in
    the untouched meme: rings just inside and just outside the region the swap changed, 16 sectors around it,
    their mean colours compared per sector, averaged. NaN when nothing changed."""
    changed = (np.abs(result.astype(np.int16) - meme).max(axis=2) > 2).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    if count < 2:
        return float("nan"), float("nan")
    region = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8) * 255
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    inside = np.zeros_like(region)
    cv2.drawContours(inside, contours, -1, 255, cv2.FILLED)  # the kept mouth and eyes are no border
    depth_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / eyes
    depth_out = cv2.distanceTransform(255 - inside, cv2.DIST_L2, 5) / eyes
    ring_in = (depth_in >= RING_INSIDE[0]) & (depth_in <= RING_INSIDE[1])
    ring_out = (depth_out >= RING_OUTSIDE[0]) & (depth_out <= RING_OUTSIDE[1])
    ys, xs = np.nonzero(inside)
    sector = ((np.arctan2(*np.mgrid[0 : meme.shape[0], 0 : meme.shape[1]] - np.array([ys.mean(), xs.mean()])
                          [:, None, None]) + np.pi) / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    steps = []
    for rgb in (result, meme):
        lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        per_sector = []
        for index in range(SECTORS):
            a, b = ring_in & (sector == index), ring_out & (sector == index)
            if a.sum() >= 10 and b.sum() >= 10:
                per_sector.append(float(np.linalg.norm(lab[a].mean(axis=0) - lab[b].mean(axis=0))))
        steps.append(float(np.mean(per_sector)) if per_sector else float("nan"))
    return steps[0], steps[1]


@dataclass
class Result:
    ms: float  # wall clock, median
    cpu_ms: float  # this process's CPU time, median: less swayed by other work on a shared machine
    distance: float  # source photo to the swapped face (dlib, < 0.6 = same person)
    restaged: float  # the untouched photo to the face swapped from its restaged copy
    swapped: bool
    notices: tuple[str, ...]
    image: np.ndarray
    crop: np.ndarray
    source_crop: np.ndarray
    seam: float = float("nan")  # delta E across the pasted face's border
    meme_seam: float = float("nan")  # across the same border in the untouched meme


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
        restaged = engine.swap(pair.meme, [pair.target], engine.make_source(restage(pair.source))[0])
        restaged_distance = (identity_distance(pair.source[:, ::-1].copy(), window(restaged.image, pair.target.bbox))
                             if restaged.swapped else float("nan"))
        results.append(Result(median(times), median(cpu), identity_distance(pair.source, crop), restaged_distance,
                              bool(outcome.swapped), outcome.notices, outcome.image, crop, source.crop))
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
    after_pairs, after = runs[args.after]
    print(f"\nidentity distance (dlib, < 0.6 = same person) to the source photo ('same'), and from its restaged copy "
          f"to the photo mirrored ('restaged'); seam: delta E across the pasted face's border / across the same border "
          f"in the untouched meme; face_shape {args.shape}")
    print(f"{'pair':32} {'original':>8} {args.before + ' same':>11} {'restaged':>8} {args.after + ' same':>11} "
          f"{'restaged':>8} {'seam ' + args.before:>10} {'seam ' + args.after:>10} {'ms':>6} {'cpu ms':>6}  result")
    rows = []
    for pair, b, a, own in zip(pairs, before, after, after_pairs, strict=True):
        original = identity_distance(pair.source, window(pair.meme, pair.target.bbox))
        status = "swapped" if a.swapped else f"skipped: {', '.join(a.notices)}"
        if a.swapped != pair.expect_swap:
            status += " (expected a swap)" if pair.expect_swap else " (a pose gap the 68-point warp skips)"
        eyes = float(np.linalg.norm(own.target.kps[1] - own.target.kps[0]))
        for r in (b, a):
            r.seam, r.meme_seam = seam(r.image, pair.meme, eyes)
        cells = [f"{r.distance:11.3f} {r.restaged:8.3f}" if r.swapped else f"{'skip':>11} {'':8}" for r in (b, a)]
        seams = [f"{r.seam:5.1f}/{r.meme_seam:4.1f}" if r.swapped else f"{'':10}" for r in (b, a)]
        print(f"{pair.name:32} {original:8.3f} {cells[0]} {cells[1]} {seams[0]} {seams[1]} "
              f"{a.ms:6.1f} {a.cpu_ms:6.1f}  {status}")
        rows.append(np.hstack([
            cell(a.source_crop, pair.name),
            cell(window(pair.meme, pair.target.bbox), f"meme {original:.3f}"),
            cell(b.crop, f"{args.before} " + (f"{b.distance:.3f}" if b.swapped else "skipped")),
            cell(a.crop, f"{args.after} " + (f"{a.distance:.3f}" if a.swapped else "skipped")),
        ]))
    for label, results in ((args.before, before), (args.after, after)):
        done = [r for r, p in zip(results, pairs, strict=True) if r.swapped and p.expect_swap]
        distances = [r.distance for r in done]
        restaged = [r.restaged for r in done if np.isfinite(r.restaged)]
        print(f"{label:>8}: {len(done)} of {sum(p.expect_swap for p in pairs)} swappable pairs swapped; "
              f"same photo: < 0.6 in {sum(d < 0.6 for d in distances)}, mean {np.mean(distances):.3f}; "
              f"restaged: < 0.6 in {sum(d < 0.6 for d in restaged)} of {len(restaged)}, mean {np.mean(restaged):.3f}; "
              f"seam {np.nanmean([r.seam for r in done]):.2f} dE "
              f"(the meme's own {np.nanmean([r.meme_seam for r in done]):.2f}); "
              f"median per swap {median([r.ms for r in done]):.1f} ms "
              f"(CPU {median([r.cpu_ms for r in done]):.1f} ms; max {max((r.ms for r in done), default=0):.1f})")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    args.out.mkdir(parents=True, exist_ok=True)
    sheet = args.out / f"swap-{args.before}-vs-{args.after}.png"
    cv2.imwrite(str(sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"contact sheet: {sheet}")


if __name__ == "__main__":
    main()
