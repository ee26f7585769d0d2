"""The web page: its weight over the wire, and the time from pressing submit to the meme being shown.

python -m bench.web [--rounds 2] [--no-browser]

Starts a real `fffusion web` (its own data folder; the catalog cache of this user), then:
- page weight: the try page's HTML, CSS and script as a browser fetches them before any meme (budget 50 KB);
- in Debian's headless Chromium (Playwright, a phone-sized screen): one face upload, then sentences typed and
  submitted; timed from the click to img#meme showing the new meme, fully loaded;
- the same with an aiohttp client (the face mirrored, so no result is reused): POST /try (JSON), GET the image.
Printed: bytes, and p50 / p95 seconds for each, after a warm-up in which a visitor without a face makes the
workers decode every meme image once. The first submit (face registration) is printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import p50_p95
from core.resources import sample_face
from tests.kakao.kakaoside import free_port

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("FFFUSION_CHROMIUM", "/usr/bin/chromium"))
SENTENCES = ["시험 완전 망했어", "월요일 출근하기 싫다", "배고파 죽겠다", "오늘 월급날이다", "너무 졸려",
             "이게 되네?", "아 진짜 웃겨 ㅋㅋㅋ", "생일 선물 받았어", "나 오늘 너무 행복해", "다 같이 모여서 놀자",
             "무슨 말인지 모르겠어", "내가 최고지"]


async def page_weight(base: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/") as resp:
            html = await resp.read()
        total = len(html)
        for asset in re.findall(rb'(?:href|src)="(/static/[^"]+)"', html):
            async with session.get(base + asset.decode()) as resp:
                total += len(await resp.read())
    return total


def mirrored_face() -> bytes:
    """The sample face flipped: another face record, so that no result the browser run made is reused."""
    import io

    from PIL import Image, ImageOps

    out = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(sample_face())).convert("RGB")).save(out, "PNG")
    return out.getvalue()


async def with_client(base: str, rounds: int, face: bytes | None) -> tuple[float, list[float]]:
    """Times of a visitor (registering `face` with the first sentence, if any) submitting the sentences."""
    times: list[float] = []
    first = 0.0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(base + "/") as resp:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text()).group(1)
        for n, sentence in enumerate([SENTENCES[0], *SENTENCES * rounds]):
            form = aiohttp.FormData()
            form.add_field("csrf", csrf)
            form.add_field("text", sentence)
            if n == 0 and face is not None:
                form.add_field("face", face, filename="face.png", content_type="image/png")
            started = time.perf_counter()
            async with session.post(base + "/try", data=form, headers={"Accept": "application/json"}) as resp:
                shown = await resp.json()
            async with session.get(base + shown["url"]) as resp:
                await resp.read()
            elapsed = time.perf_counter() - started
            if n == 0:
                first = elapsed
            else:
                times.append(elapsed)
    return first, times


async def with_browser(base: str, rounds: int) -> tuple[float, list[float]] | str:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return "no Playwright (pip install playwright)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium fonts-nanum)"
    from tests.web.conftest import CHROMIUM_ARGS

    times: list[float] = []
    first = 0.0
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        page = await context.new_page()
        await page.goto(base + "/")
        await page.set_input_files("input[type=file][name=face]",
                                   files=[{"name": "face.png", "mimeType": "image/png", "buffer": sample_face()}])
        previous = ""
        for n, sentence in enumerate([SENTENCES[0], *SENTENCES * rounds]):
            await page.fill("[name=text]", sentence)
            started = time.perf_counter()
            await page.click("#make button[type=submit]")
            await page.wait_for_function(
                "(old) => { const m = document.querySelector('img#meme');"
                " return m.dataset.shown && m.dataset.shown !== old && m.complete && m.naturalWidth > 0; }",
                arg=previous, polling="raf")
            elapsed = time.perf_counter() - started
            previous = await page.get_attribute("img#meme", "data-shown")
            if n == 0:
                first = elapsed
            else:
                times.append(elapsed)
        await browser.close()
    return first, times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each of the 12 sentences is submitted")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
        env.update(FFFUSION_DATA_DIR=data, FFFUSION_HTTP_HOST="127.0.0.1", FFFUSION_HTTP_PORT=str(port),
                   FFFUSION_RATE_PER_MINUTE="100000", PYTHONIOENCODING="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "웹 페이지: http://127.0.0.1:PORT/ ..." once it serves
            if not line:
                sys.exit(f"fffusion web did not start (exit {proc.wait()})")
            base = f"http://127.0.0.1:{port}"
            weight = await page_weight(base)
            print(f"try page over the wire before the meme: {weight} bytes ({weight / 1024:.1f} KB; budget 50 KB)")
            # Warm-up without a face: the workers decode each meme image once (they keep them), which a first
            # visitor after a start pays for; the figures below are the steady state after it.
            _, cold = await with_client(base, 2, None)
            print(f"warm-up, no face (memes decoded the first time): p50 / p95 {p50_p95(cold)} s")
            if not args.no_browser:
                measured = await with_browser(base, args.rounds)
                if isinstance(measured, str):
                    print(f"browser: skipped, {measured}")
                else:
                    first, times = measured
                    print(f"Chromium, click to meme shown: first (face registration) {first:.2f} s; "
                          f"then {len(times)} sentences p50 / p95 {p50_p95(times)} s")
            first, times = await with_client(base, args.rounds, mirrored_face())
            print(f"aiohttp client, POST /try + GET image: first (face registration) {first:.2f} s; "
                  f"then {len(times)} sentences p50 / p95 {p50_p95(times)} s")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    asyncio.run(main())
