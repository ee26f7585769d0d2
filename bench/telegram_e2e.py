"""Telegram end to end: N people chat with the real bot (adapters/telegram) through the Bot API server of the
tests on 127.0.0.1, with the real service (worker processes, real models) behind it.

python -m bench.telegram_e2e [--people 1,8,32] [--requests 3] [--workers 0]

Each person registers a face (a photo with the caption /setface; not timed), then sends sentences one after
another, waiting for each photo. Printed per N: p50/p95 from the person's message to the bot's photo arriving
at the Bot API server, throughput in photos per second, and errors (a text answer instead of a photo, or no
answer within the timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from adapters.telegram import TelegramBot
from bench.common import percentile
from bench.kakao_e2e import SENTENCES, people_photos
from bot.config import DEMO_CATALOG, Settings
from core.compute.contract import WorkerConfig
from core.limits import Limits
from core.service.chat import Conversation
from core.service.service import MemeService
from tests.telegram.botapi_server import JSON, BotApiServer, Call

ANSWER_TIMEOUT_S = 120.0


@dataclass
class Round:
    latency_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def answer(server: BotApiServer, chat: JSON) -> Call:
    """The bot's next photo or text in the chat (chat actions aside)."""
    return await server.expect(("sendPhoto", "sendMessage"), chat, timeout=ANSWER_TIMEOUT_S)


def variant(photo: bytes, k: int) -> bytes:
    """The photo cropped by k pixels: another face record, so people sharing a photo share no results."""
    if k == 0:
        return photo
    with Image.open(io.BytesIO(photo)) as img:
        out = io.BytesIO()
        img.crop((k, k, img.width - k // 2, img.height - k // 2)).save(out, "JPEG", quality=92)
        return out.getvalue()


async def register(server: BotApiServer, user: JSON, photo: bytes, stats: Round) -> bool:
    chat = server.private_chat(user)
    server.send_photo(user, chat, photo, caption="/setface")
    reply = await answer(server, chat)
    if reply.method != "sendPhoto":
        stats.errors.append(f"setface: {reply.params.get('text')}")
    return reply.method == "sendPhoto"


async def chat(server: BotApiServer, user: JSON, index: int, requests: int, stats: Round) -> None:
    chat = server.private_chat(user)
    for n in range(requests):
        start = time.monotonic()
        server.send_text(user, chat, SENTENCES[(index + n) % len(SENTENCES)])
        try:
            reply = await answer(server, chat)
        except AssertionError as exc:
            stats.errors.append(f"timeout: {str(exc)[:120]}")
            continue
        if reply.method != "sendPhoto":
            stats.errors.append(str(reply.params.get("text")))
            continue
        stats.latency_s.append(reply.at - start)


def fmt(values: list[float]) -> str:
    return f"{percentile(values, 50):5.2f} / {percentile(values, 95):5.2f}" if values else "   -  /   -  "


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", default="1,8,32")
    parser.add_argument("--requests", type=int, default=3, help="sentences per person")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = one per CPU)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    photos = people_photos()
    with tempfile.TemporaryDirectory() as tmp:
        # Rate limits off: this measures throughput, not the per-person limit.
        limits = dataclasses.replace(Limits(), rate_per_minute=0)
        cache = Path(os.environ.get("FFFUSION_CACHE_DIR") or Settings().cache_dir)
        config = WorkerConfig(catalog_dir=DEMO_CATALOG, cache_dir=cache, limits=limits)
        service = MemeService(config, Path(tmp), workers=args.workers)
        started = time.monotonic()
        await service.start()
        async with BotApiServer() as server:
            settings = Settings().replace(telegram_token=server.token,
                                           telegram_base_url=server.base_url,
                                           telegram_base_file_url=server.base_file_url)
            bot = TelegramBot(Conversation(service), settings.telegram)
            await bot.start()
            print(f"service and bot ready in {time.monotonic() - started:.1f} s; {service.pool.size} workers; "
                  f"{len(photos)} different faces; {os.cpu_count()} CPUs; queue {limits.queue_length}")
            print("people  memes  message->photo p50/p95 s  photos/s  errors")
            try:
                people = 0  # everyone ever created: each person gets a face of their own
                for count in (int(c) for c in args.people.split(",")):
                    stats = Round()
                    users = [server.user(10_000 + people + i, f"p{people + i}") for i in range(count)]
                    faces = [variant(photos[(people + i) % len(photos)], (people + i) // len(photos))
                             for i in range(count)]
                    people += count
                    begin = time.monotonic()
                    ok = await asyncio.gather(*(register(server, u, f, stats)
                                                for u, f in zip(users, faces, strict=True)))
                    setface = time.monotonic() - begin
                    begin = time.monotonic()
                    await asyncio.gather(*(chat(server, u, i, args.requests, stats)
                                           for i, (u, good) in enumerate(zip(users, ok, strict=True)) if good))
                    wall = time.monotonic() - begin
                    print(f"{count:6d}  {count * args.requests:5d}  {fmt(stats.latency_s):>24}  "
                          f"{len(stats.latency_s) / wall:8.2f}  {len(stats.errors):6d}  "
                          f"(all {count} registered in {setface:.1f} s)")
                    for err in stats.errors[:5]:
                        print("   error:", err[:200])
            finally:
                await bot.stop()
                await service.close()


if __name__ == "__main__":
    asyncio.run(main())
