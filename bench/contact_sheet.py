"""Contact sheet: every demo meme with the bundled face (the astronaut) and faces that ship in packages (t1.jpg's
Rachel and Chandler, Tom Hanks' greyscale crop), each cell the meme's face at 2x zoom, as a phone shows it.

python -m bench.contact_sheet [--engine mesh] [--tag after] [--out bench/out]

Writes bench/out/contact-<tag>-<page>.png (four memes a page; columns: meme, then one per face). To be looked at:
no figure here is a quality gate (bench.swap has the figures).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from bot.config import DEMO_CATALOG
from core.catalog.catalog import load_catalog
from core.faces.base import DetectedFace
from core.faces.engines import load_engine
from core.images import decode_image
from core.limits import Limits
from tests import face_fixtures as fx

ZOOM = 2.0
#: the window around a face, as a share of its box on each side
MARGIN = 0.35
PER_PAGE = 4
LABEL = 24


def faces_photo() -> dict[str, np.ndarray]:
    from core.faces.dlib_engine import DlibEngine

    t1 = fx.t1_faces(DlibEngine())
    group = fx.group_photo()
    return {"astronaut": fx.astronaut(), "rachel": fx.crop_around(group, t1["rachel"].bbox),
            "chandler": fx.crop_around(group, t1["chandler"].bbox), "hanks (grey)": fx.tom_hanks()}


def zoomed(rgb: np.ndarray, face: DetectedFace, label: str) -> np.ndarray:
    window = fx.crop_around(rgb, face.bbox, margin=MARGIN)
    big = cv2.resize(window, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_CUBIC)
    out = np.full((big.shape[0] + LABEL, big.shape[1], 3), 255, np.uint8)
    out[LABEL:] = big
    cv2.putText(out, label, (4, LABEL - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def row(cells: list[np.ndarray]) -> np.ndarray:
    height = max(c.shape[0] for c in cells)
    padded = [np.pad(c, ((0, height - c.shape[0]), (0, 6), (0, 0)), constant_values=255) for c in cells]
    return np.hstack(padded)


def stack(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="mesh")
    parser.add_argument("--models", type=Path)
    parser.add_argument("--tag", default="now", help="a word in the file names (before, after)")
    parser.add_argument("--only", nargs="*", help="meme ids (default: all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()

    limits = Limits()
    engine = load_engine(args.engine, args.models, limits)
    sources = {name: engine.make_source(photo)[0] for name, photo in faces_photo().items()}
    catalog = load_catalog(DEMO_CATALOG)
    rows = []
    for meme in catalog.memes:
        if args.only and meme.id not in args.only:
            continue
        rgb = decode_image(catalog.image_bytes(meme), limits)
        faces = engine.detect(rgb)
        targets = [faces[i] for i in (meme.faces or (0,)) if i < len(faces)]
        if not targets:
            print(f"{meme.id}: no face found")
            continue
        cells = [zoomed(rgb, targets[0], f"{meme.id} {rgb.shape[1]}x{rgb.shape[0]}")]
        for name, source in sources.items():
            outcome = engine.swap(rgb, targets, source)
            assert outcome.image.shape == rgb.shape
            note = "" if 0 in outcome.swapped else " (kept: " + ", ".join(outcome.notices) + ")"
            cells.append(zoomed(outcome.image, targets[0], name + note))
        rows.append(row(cells))
    args.out.mkdir(parents=True, exist_ok=True)
    for page in range(0, len(rows), PER_PAGE):
        path = args.out / f"contact-{args.tag}-{page // PER_PAGE + 1}.png"
        cv2.imwrite(str(path), cv2.cvtColor(stack(rows[page : page + PER_PAGE]), cv2.COLOR_RGB2BGR))
        print(path)


if __name__ == "__main__":
    main()
