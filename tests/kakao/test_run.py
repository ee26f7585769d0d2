"""The real `fffusion run` as a subprocess, played by Open Builder over loopback: kill -9 and restart keep
the registered face; settings that cannot work exit 2 before anything loads."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from core.compute.contract import WorkerConfig
from core.messages import render
from tests.faceutil import identity_distance
from tests.kakao.kakaoside import (
    SECRET,
    OpenBuilder,
    PhotoServer,
    free_port,
    image_url,
    secure_image,
    text_of,
    wait_ready,
)

REPO = Path(__file__).resolve().parents[2]
PAYDAY = "월급 들어왔다 신난다"  # the ranking is sure of it: one meme, not a choice

Spawn = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture
def kakao_env(tmp_path: Path, worker_config: WorkerConfig, photo_server: PhotoServer) -> dict[str, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    env.update(
        FFFUSION_DATA_DIR=str(tmp_path / "data"),
        FFFUSION_CACHE_DIR=str(worker_config.cache_dir),  # the catalog the session already prepared
        FFFUSION_WORKERS="1",
        FFFUSION_HTTP_HOST="127.0.0.1",
        FFFUSION_HTTP_PORT=str(port),
        FFFUSION_PUBLIC_URL=f"http://127.0.0.1:{port}",
        FFFUSION_KAKAO_SECRET=SECRET,
        FFFUSION_KAKAO_IMAGE_HOSTS=f"127.0.0.1:{photo_server.port}",  # not a default port: named
        FFFUSION_KAKAO_CALLBACK_HOSTS=f"127.0.0.1:{photo_server.port}",
        # a loaded 2-core CI machine may take longer than Kakao's budget: the callback path covers that
        FFFUSION_KAKAO_BUDGET_S="4.5",
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.fixture
async def spawn(kakao_env: dict[str, str]) -> AsyncIterator[Spawn]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        # its own session, so that "kill -9" takes the workers too, as a container kill would
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=REPO, env=kakao_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def test_kill_9_and_restart_keep_the_face(
    spawn: Spawn, kakao_env: dict[str, str], photo_server: PhotoServer, photo_a: bytes
) -> None:
    photo_server.files["a.jpg"] = photo_a
    base = kakao_env["FFFUSION_PUBLIC_URL"]
    async with aiohttp.ClientSession() as session:
        bot = OpenBuilder(base, session, photo_server)
        first = spawn()
        await wait_ready(session, base, first)
        assert text_of(await bot.say("alice", "도움말")) == render("kakao.help", "ko")
        saved = await bot.final("alice", "/setface", params=secure_image(photo_server.url("a.jpg")))
        assert render("kakao.face_saved", "ko", name="기본") in text_of(saved)
        before = await bot.final("alice", PAYDAY)
        assert identity_distance(await bot.image(before), photo_a) < 0.6

        os.killpg(first.pid, signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL

        second = spawn()
        await wait_ready(session, base, second)
        async with session.get(image_url(before)) as resp:  # results on disk outlive the process
            assert resp.status == 200
        after = await bot.final("alice", "딱 한 판만 더 하자")
        assert render("face.not_registered", "ko") not in text_of(after)
        assert identity_distance(await bot.image(after), photo_a) < 0.6

        second.send_signal(signal.SIGTERM)  # a clean stop exits 0
        assert second.wait(60) == 0


@pytest.mark.parametrize(("change", "said"), [
    ({"FFFUSION_KAKAO_SECRET": "too-short"}, "FFFUSION_KAKAO_SECRET=to…(9 chars) → 가능한 값: A-Z a-z 0-9"),
    ({"FFFUSION_PUBLIC_URL": ""}, render("kakao.public_url_missing", "ko")),
])
def test_settings_that_cannot_work_exit_2(kakao_env: dict[str, str], change: dict[str, str], said: str) -> None:
    env = {**kakao_env, **change}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=REPO, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def _group(pgid: int) -> list[int]:
    """The live processes of a process group (zombies waiting to be reaped do not count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


async def test_kill_9_leaves_no_process_behind(spawn: Spawn, kakao_env: dict[str, str]) -> None:
    """Workers and multiprocessing's resource tracker die with the server, even one killed with SIGKILL."""
    base = kakao_env["FFFUSION_PUBLIC_URL"]
    async with aiohttp.ClientSession() as session:
        proc = spawn()
        await wait_ready(session, base, proc)
    assert len(_group(proc.pid)) >= 3  # the server, its worker and the resource tracker
    os.kill(proc.pid, signal.SIGKILL)  # the server only, as the OOM killer or a crash would
    assert proc.wait(30) == -signal.SIGKILL
    for _ in range(100):
        if not _group(proc.pid):
            break
        await asyncio.sleep(0.1)
    assert _group(proc.pid) == []
