"""KakaoTalk end to end: N people post skill requests to a real `fffusion run`, as Open Builder would.

python -m bench.kakao_e2e [--people 1,8,32] [--requests 3] [--budget 3.8]

Each person registers a face through the secure-image parameter (photos served on loopback), then sends
sentences from a callback-enabled block. Printed per N: p50/p95 from the POST to the answer (the direct
answer, or the callback when the budget forced one) and to the image being downloaded, how often the
budget forced a callback, and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from PIL import Image

from bench.common import p50_p95
from tests.kakao.kakaoside import SECRET, OpenBuilder, PhotoServer, free_port, secure_image

REPO = Path(__file__).resolve().parent.parent
SENTENCES = ["시험 완전 망했어", "월요일 출근하기 싫다", "배고파 죽겠다", "오늘 월급날이다", "너무 졸려", "이게 되네?"]


def people_photos() -> list[bytes]:
    """Real faces from installed packages: Tom Hanks, the astronaut, and the six people of t1.jpg."""
    import dlib
    import insightface
    from skimage import data as skdata

    images = Path(insightface.__file__).parent / "data" / "images"
    hanks = Image.open(images / "Tom_Hanks_54745.png").convert("RGB").resize((448, 448), Image.LANCZOS)  # 112 px
    photos = [np.asarray(hanks), skdata.astronaut()]
    group = np.asarray(Image.open(images / "t1.jpg").convert("RGB"))
    for box in dlib.get_frontal_face_detector()(group, 1):
        pad = box.width()
        top, left = max(0, box.top() - pad), max(0, box.left() - pad)
        photos.append(group[top: box.bottom() + pad, left: box.right() + pad])
    out = []
    for photo in photos:
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, "JPEG", quality=92)
        out.append(buf.getvalue())
    return out


@dataclass
class Round:
    answer_s: list[float] = field(default_factory=list)
    image_s: list[float] = field(default_factory=list)
    setface_s: list[float] = field(default_factory=list)
    callbacks: int = 0
    errors: list[str] = field(default_factory=list)


async def timed(bot: OpenBuilder, user: str, utterance: str, stats: Round, **kwargs: Any) -> dict[str, Any] | None:
    """One request from a callback-enabled block; the final SkillResponse, its time and callback counted."""
    start = time.perf_counter()
    try:
        answer, deferred = await bot.ask(user, utterance, **kwargs)
    except (AssertionError, aiohttp.ClientError, TimeoutError) as exc:
        stats.errors.append(f"{type(exc).__name__}: {exc}")
        return None
    stats.answer_s.append(time.perf_counter() - start)
    stats.callbacks += deferred
    return answer


async def person(bot: OpenBuilder, index: int, prefix: str, photos: int, requests: int, stats: Round) -> None:
    user = f"{prefix}-p{index}"
    start = time.perf_counter()
    reg = await timed(bot, user, "/setface", Round(), params=secure_image(bot.kakao.url(f"p{index % photos}.jpg")))
    if reg is None or not any("simpleImage" in o for o in reg["template"]["outputs"]):
        stats.errors.append(f"setface: {reg}")
        return
    stats.setface_s.append(time.perf_counter() - start)
    for n in range(requests):
        start = time.perf_counter()
        answer = await timed(bot, user, SENTENCES[(index + n) % len(SENTENCES)], stats)
        if answer is None:
            continue
        try:
            await bot.image(answer)
        except (AssertionError, ValueError, aiohttp.ClientError) as exc:
            stats.errors.append(f"image: {type(exc).__name__} {str(answer)[:150]}")
            continue
        stats.image_s.append(time.perf_counter() - start)


def start_server(port: int, data: Path, budget: float, workers: int, photos: int) -> subprocess.Popen[bytes]:
    """`fffusion run` with the loopback photo and callback server on port `photos` as Kakao's hosts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    env.update(FFFUSION_DATA_DIR=str(data / "data"), FFFUSION_CACHE_DIR=str(data / "cache"),
               FFFUSION_HTTP_HOST="127.0.0.1", FFFUSION_HTTP_PORT=str(port), FFFUSION_KAKAO_SECRET=SECRET,
               FFFUSION_PUBLIC_URL=f"http://127.0.0.1:{port}", FFFUSION_KAKAO_IMAGE_HOSTS=f"127.0.0.1:{photos}",
               FFFUSION_KAKAO_CALLBACK_HOSTS=f"127.0.0.1:{photos}",
               FFFUSION_KAKAO_BUDGET_S=str(budget), FFFUSION_WORKERS=str(workers))
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_ready(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> float:
    start = time.perf_counter()
    while proc.poll() is None:
        try:
            async with session.get(base + "/") as resp:
                if resp.status == 200:
                    return time.perf_counter() - start
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"fffusion run exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", default="1,8,32")
    parser.add_argument("--requests", type=int, default=3, help="sentences per person")
    parser.add_argument("--budget", type=float, default=3.8, help="FFFUSION_KAKAO_BUDGET_S")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="FFFUSION_WORKERS")
    args = parser.parse_args()

    kakao = PhotoServer()
    await kakao.start()
    photos = people_photos()
    for n, photo in enumerate(photos):
        kakao.files[f"p{n}.jpg"] = photo
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_server(port, Path(tmp), args.budget, args.workers, kakao.port)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90))
        try:
            bot = OpenBuilder(f"http://127.0.0.1:{port}", session, kakao)
            ready = await wait_ready(session, bot.base, proc)
            print(f"fffusion run ready in {ready:.1f} s; {len(photos)} different faces; budget {args.budget} s; "
                  f"{os.cpu_count()} CPUs")
            # the first memes after start, one per idle worker at once, pay any cold start: reported apart
            cold = Round()
            await asyncio.gather(*(timed(bot, f"cold-{n}", SENTENCES[n % len(SENTENCES)], cold)
                                   for n in range(args.workers)))
            print(f"first {args.workers} memes after start (one per worker): max {max(cold.answer_s, default=0):.2f} s,"
                  f" {cold.callbacks} through the callback, {len(cold.errors)} errors")
            print("people  memes  answer p50/p95 s  image p50/p95 s  setface p50/p95 s  callbacks  errors")
            for count in (int(c) for c in args.people.split(",")):
                stats = Round()
                await asyncio.gather(*(
                    person(bot, i, f"n{count}", len(photos), args.requests, stats)
                    for i in range(count)
                ))
                total = count * args.requests
                print(f"{count:6d}  {total:5d}  {p50_p95(stats.answer_s):>16}  {p50_p95(stats.image_s):>15}  "
                      f"{p50_p95(stats.setface_s):>17}  {stats.callbacks:4d} ({stats.callbacks / total:4.0%})"
                      f"  {len(stats.errors):6d}")
                for err in stats.errors[:5]:
                    print("   error:", str(err)[:200])
        finally:
            await session.close()
            proc.terminate()
            proc.wait(30)
            await kakao.close()


if __name__ == "__main__":
    asyncio.run(main())
