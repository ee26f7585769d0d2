"""Peak memory of a pool worker for the worst photo the limits allow (just under FFFUSION_MAX_IMAGE_PIXELS).

    python -m bench.photo_memory [--register]

Each photo is decoded in a fresh process: printed are its size, the decode time and how much the process's
peak RSS grew. With --register the whole registration job runs in a real worker (models loaded first), and
the worker's own peak RSS is printed too.
"""

from __future__ import annotations

import argparse
import io
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from core.limits import Limits


def peak_rss_mb() -> float:
    """This process's peak RSS since it started (VmHWM; getrusage would count the forking parent's too)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def worst_photos(limits: Limits) -> dict[str, bytes]:
    """Flat pictures (they compress to almost nothing) of just under the pixel limit, 4:3, in each format."""
    photos = {}
    for name, mode, fmt in [("jpeg", "RGB", "JPEG"), ("png-rgb", "RGB", "PNG"), ("png-rgba", "RGBA", "PNG"),
                            ("png-16bit-grey", "I;16", "PNG"), ("gif", "P", "GIF"), ("webp", "RGB", "WEBP")]:
        allowed = limits.max_image_pixels if fmt == "JPEG" else limits.max_full_decode_pixels
        side = math.isqrt(allowed * 3 // 4)
        size = (side * 4 // 3 - 1, side - 1)
        out = io.BytesIO()
        Image.new(mode, size, 200 if mode in ("I;16", "P") else (200,) * len(mode)).save(out, fmt)
        photos[name] = out.getvalue()
    return photos


def _measure(path: str, register: bool) -> None:
    """In the child: decode (or register) once and print the growth of the peak RSS."""
    data = Path(path).read_bytes()
    if register:
        from bot.config import DEMO_CATALOG
        from core.compute import runtime
        from core.compute.contract import RegisterJob, WorkerConfig

        ctx = runtime.start(WorkerConfig(catalog_dir=DEMO_CATALOG, cache_dir=Path(tempfile.gettempdir())
                                         / "fffusion-bench-cache"))
    from core.errors import InputError
    from core.images import decode_image

    before = peak_rss_mb()
    started = time.perf_counter()
    try:
        if register:
            ctx.execute(RegisterJob(data))
        else:
            decode_image(data, Limits())
    except InputError as err:  # a flat picture has no face: the photo's cost is paid all the same
        note = err.key
    else:
        note = "ok"
    print(f"{time.perf_counter() - started:.2f} {before:.0f} {peak_rss_mb():.0f} {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--register", action="store_true", help="run the whole registration in a real worker")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _measure(args.child, args.register)
        return
    limits = Limits()
    print(f"limits: JPEG {limits.max_image_pixels / 1e6:.0f} MP, other formats "
          f"{limits.max_full_decode_pixels / 1e6:.0f} MP allowed; "
          f"decoded at most {limits.max_decode_pixels / 1e6:.0f} MP")
    print("photo            file KB  seconds  peak RSS before -> after (MB)  growth  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in worst_photos(limits).items():
            path = Path(tmp) / name
            path.write_bytes(data)
            cmd = [sys.executable, "-m", "bench.photo_memory", "--child", str(path)]
            out = subprocess.run([*cmd, *(["--register"] if args.register else [])], capture_output=True,
                                 text=True, check=True).stdout.split()
            seconds, before, after, note = float(out[0]), float(out[1]), float(out[2]), out[3]
            print(f"{name:<16} {len(data) / 1024:7.0f}  {seconds:7.2f}  {before:6.0f} -> {after:6.0f}"
                  f"{'':15}{after - before:6.0f}  {note}")


if __name__ == "__main__":
    main()
