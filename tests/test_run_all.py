"""`fffusion run` with every platform configured: one process serves Telegram, Discord and KakaoTalk at once,
each against its loopback peer, and SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from core.compute.contract import WorkerConfig
from tests.discord.fake_discord import FakeDiscord
from tests.kakao.kakaoside import SECRET, free_port, payload
from tests.telegram.botapi_server import BotApiServer

REPO = Path(__file__).resolve().parent.parent
PAYDAY = "월급 들어왔다 신난다"  # the ranking is sure of it: one meme, not a choice


def _is_jpeg(data: bytes | None) -> bool:
    return bool(data) and data[:3] == b"\xff\xd8\xff"


async def test_one_process_serves_every_platform(tmp_path: Path, worker_config: WorkerConfig) -> None:
    port = free_port()
    discord = FakeDiscord()
    await discord.start()
    async with BotApiServer() as telegram:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
        env.update(
            FFFUSION_DATA_DIR=str(tmp_path / "data"),
            FFFUSION_CACHE_DIR=str(worker_config.cache_dir),  # the catalog the session already prepared
            FFFUSION_WORKERS="1",
            FFFUSION_TELEGRAM_TOKEN=telegram.token,
            FFFUSION_TELEGRAM_BASE_URL=telegram.base_url,
            FFFUSION_TELEGRAM_BASE_FILE_URL=telegram.base_file_url,
            FFFUSION_DISCORD_TOKEN=discord.token,
            FFFUSION_DISCORD_API_BASE=discord.api_base,
            FFFUSION_DISCORD_GATEWAY=discord.gateway,
            FFFUSION_KAKAO_SECRET=SECRET,
            FFFUSION_PUBLIC_URL=f"http://127.0.0.1:{port}",
            FFFUSION_HTTP_HOST="127.0.0.1",
            FFFUSION_HTTP_PORT=str(port),
            PYTHONIOENCODING="utf-8",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not discord.identifies:  # Discord is the last platform to start
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
                assert time.monotonic() < deadline, "fffusion run did not connect to Discord in 120 s"
                await asyncio.sleep(0.2)

            # Telegram: a private message gets the meme photo.
            alice = telegram.user(2001, "Alice")
            chat = telegram.private_chat(alice)
            telegram.send_text(alice, chat, PAYDAY)
            photo = await telegram.expect("sendPhoto", chat, timeout=60)
            assert _is_jpeg(photo.photo)

            # Discord: /meme defers, then the meme arrives as a file.
            bob = discord.add_member("bob")
            ix = await discord.slash("meme", {"text": PAYDAY}, member=bob)
            answer = await ix.answer()
            assert _is_jpeg(answer.attachments[0].data)

            # KakaoTalk: the skill answers with an image URL this same process serves.
            async with aiohttp.ClientSession() as http:
                skill = f"http://127.0.0.1:{port}/kakao/{SECRET}"
                async with http.post(skill, json=payload("carol", PAYDAY)) as resp:
                    assert resp.status == 200
                    body = await resp.json()
                outputs = body["template"]["outputs"]
                image_url = next(o["simpleImage"]["imageUrl"] for o in outputs if "simpleImage" in o)
                async with http.get(image_url) as resp:
                    assert resp.status == 200 and _is_jpeg(await resp.read())

            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 60) == 0
            # nothing in the log that means nothing to this bot's operator (it never joins a voice channel)
            assert proc.stderr is not None and "voice will NOT be supported" not in proc.stderr.read().decode()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            await discord.close()
