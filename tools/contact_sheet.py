"""Draw a catalog's contact sheet: every meme as a person gets it with the bundled demo face (the astronaut),
its 자막 and mark, with its id underneath, and what happened to each face (README.md shows the demo's).

    python -m tools.contact_sheet [CATALOG_DIR] [-o docs/demo-catalog.jpg] [--columns 6] [--tile 260]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from bot.app import worker_config
from bot.config import load_settings
from core.compute import runtime
from core.images import decode_image
from core.resources import sample_face
from core.subtitle import font


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog", nargs="?", type=Path, help="catalog folder (default: the bundled demo)")
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/demo-catalog.jpg"))
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--tile", type=int, default=260, help="tile width in pixels")
    args = parser.parse_args(argv)
    settings = load_settings()
    config = dataclasses.replace(worker_config(settings), catalog_dir=args.catalog or settings.catalog)
    state = runtime.load_context(config)
    source, _ = state.engine.make_source(decode_image(sample_face(), settings.limits))
    label_h = 22
    memes = state.prepared.catalog.memes
    rows = -(-len(memes) // args.columns)
    sheet = Image.new("RGB", (args.columns * args.tile, rows * (args.tile + label_h)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for n, meme in enumerate(memes):
        composed = runtime.composed_with(state, meme.id, source)
        with Image.open(io.BytesIO(composed.image)) as result:
            print(f"{meme.id}: {result.size[0]}x{result.size[1]}, {len(state.prepared.targets.get(meme.id, []))} "
                  f"face(s), swapped={composed.swapped} {' '.join(composed.notices)}")
            result.thumbnail((args.tile, args.tile), Image.Resampling.LANCZOS)
            x, y = (n % args.columns) * args.tile, (n // args.columns) * (args.tile + label_h)
            sheet.paste(result, (x + (args.tile - result.width) // 2, y + (args.tile - result.height) // 2))
        draw.text((x + args.tile / 2, y + args.tile + label_h / 2), meme.id, font=font(14), fill=(235, 235, 235),
                  anchor="mm")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=70, optimize=True)
    print(f"{args.output}: {len(memes)} memes, {args.output.stat().st_size // 1024} KB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
