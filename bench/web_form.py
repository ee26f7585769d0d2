"""The web page against forms made to exhaust its memory: the server's RSS while hostile POSTs stream in.

python -m bench.web_form [--fields 3000] [--field-kb 64] [--clients 3]

Starts a real `fffusion web` (its own data folder; the catalog cache of this user), then sends `--clients` POSTs
to /try at once, each of `--fields` text fields of `--field-kb` KB, twice: from a visitor with a cookie and the
page's CSRF token, and from a client with neither. Printed: the server process's RSS (VmRSS) before, its peak
while they stream (sampled every 50 ms), and 2 s after; and what the clients were answered. The request bodies
are generated as they are sent, so the client holds little.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.kakao.kakaoside import free_port

REPO = Path(__file__).resolve().parent.parent
BOUNDARY = "benchBoundary0123"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def body(csrf: str, fields: int, field_bytes: int) -> AsyncIterator[bytes]:
    yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'.encode()
    filler = b"x" * field_bytes
    for n in range(fields):
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{n}"\r\n\r\n'.encode() + filler + b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


async def post(base: str, cookies: dict[str, str], csrf: str, fields: int, field_bytes: int) -> str:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    try:
        async with aiohttp.ClientSession(cookies=cookies) as session, session.post(
            base + "/try", data=body(csrf, fields, field_bytes), headers=headers
        ) as resp:
            text = await resp.text()
            alert = re.search(r'role="alert"[^>]*>([^<]*)<', text)
            return f"{resp.status} {alert.group(1) if alert else text[:80]!r}"
    except aiohttp.ClientError as exc:  # the server may answer and close before the body is all sent
        return f"connection closed by the server ({type(exc).__name__})"


async def attack(base: str, pid: int, cookies: dict[str, str], csrf: str, args: argparse.Namespace) -> None:
    before = rss_mb(pid)
    peak = before
    tasks = [asyncio.create_task(post(base, cookies, csrf, args.fields, args.field_kb * 1024))
             for _ in range(args.clients)]
    while not all(t.done() for t in tasks):
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.05)
    answers = sorted({t.result() for t in tasks})
    await asyncio.sleep(2)
    after = rss_mb(pid)
    print(f"  RSS before {before:.0f} MB, peak {peak:.0f} MB (+{peak - before:.0f}), 2 s after {after:.0f} MB "
          f"(+{after - before:.0f}); answers: {'; '.join(answers)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=3000)
    parser.add_argument("--field-kb", type=int, default=64)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
        env.update(FFFUSION_DATA_DIR=data, FFFUSION_HTTP_HOST="127.0.0.1", FFFUSION_HTTP_PORT=str(port),
                   FFFUSION_WORKERS="1", FFFUSION_HTTP_BODY_TIMEOUT_S="60", PYTHONIOENCODING="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            if not proc.stdout.readline():  # "웹 페이지: http://127.0.0.1:PORT/ ..." once it serves
                sys.exit(f"fffusion web did not start (exit {proc.wait()})")
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session, session.get(base + "/") as resp:
                found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
                assert found is not None
                cookies = {c.key: c.value for c in resp.cookies.values()}
            size = args.fields * args.field_kb / 1024
            print(f"{args.clients} POSTs at once of {args.fields} fields x {args.field_kb} KB ({size:.0f} MB each), "
                  f"server pid {proc.pid}, {os.cpu_count()} CPUs")
            print("a visitor with its cookie and CSRF token:")
            await attack(base, proc.pid, cookies, found.group(1), args)
            print("a client with neither:")
            await attack(base, proc.pid, {}, "made-up", args)
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    asyncio.run(main())
