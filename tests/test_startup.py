"""`fffusion run` and `fffusion web` as an operator starts and stops them: real processes, real signals, real sockets.
Start-up errors are one line and exit 2 in the operator's language; Ctrl-C stops without a traceback; HTTP is served
only for what needs it, on loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.app import needs_http
from bot.config import load_settings
from core.compute.contract import WorkerConfig
from tests.kakao.kakaoside import free_port
from tests.telegram.botapi_server import BotApiServer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path, worker_config: WorkerConfig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    env.update(
        FFFUSION_DATA_DIR=str(tmp_path / "data"),
        FFFUSION_CACHE_DIR=str(worker_config.cache_dir),  # the catalog the session already prepared
        FFFUSION_WORKERS="1",
        FFFUSION_HTTP_PORT=str(free_port()),
        PYTHONIOENCODING="utf-8",
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


@contextmanager
def _started(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    """The command in its own process group, as a terminal runs it (Ctrl-C signals the whole group)."""
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _listening(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at `port` (from the kernel's tables: whoever opened it)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


async def _wait_http(proc: subprocess.Popen[str], url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"{url} did not answer in {timeout} s"
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)


def _ctrl_c(proc: subprocess.Popen[str]) -> tuple[int, str]:
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("command", ["run", "web"])
def test_a_wrong_catalog_is_one_line_and_exit_2(env: dict[str, str], command: str, lang: str) -> None:
    env.update(FFFUSION_CATALOG="/nonexistent", FFFUSION_WEB_PAGE="true", FFFUSION_LANG=lang)
    done = _run(env, command)
    said = {"ko": "짤 카탈로그를 찾을 수 없어요: ", "en": "Meme catalog not found: "}[lang]
    said += "/nonexistent/catalog.toml"
    assert done.returncode == 2 and done.stderr == said + "\n" and done.stdout == ""


def test_insightface_without_its_models_names_the_setting(env: dict[str, str], tmp_path: Path) -> None:
    env.update(FFFUSION_FACE_BACKEND="insightface", FFFUSION_WEB_PAGE="true")
    done = _run(env, "run")
    assert done.returncode == 2 and "FFFUSION_MODELS_DIR" in done.stderr and done.stderr.count("\n") == 1
    env["FFFUSION_MODELS_DIR"] = str(tmp_path)
    done = _run(env, "run")
    assert done.returncode == 2 and str(tmp_path / "buffalo_l") in done.stderr and "Traceback" not in done.stderr


def test_nothing_to_run_names_the_web_page_too(env: dict[str, str]) -> None:
    done = _run(env, "run")
    assert done.returncode == 2 and "FFFUSION_WEB_PAGE=true" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("command", ["run", "web"])
async def test_ctrl_c_stops_without_a_traceback(env: dict[str, str], command: str) -> None:
    """A real SIGINT to the whole process group, worker processes included, as a terminal's Ctrl-C sends it."""
    env["FFFUSION_WEB_PAGE"] = "true"
    with _started(env, command) as proc:
        await _wait_http(proc, f"http://127.0.0.1:{env['FFFUSION_HTTP_PORT']}/")
        code, err = _ctrl_c(proc)
    assert code in (0, 130), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_what_needs_http() -> None:
    def needs(**env: str) -> bool:
        return needs_http(load_settings(env={f"FFFUSION_{k.upper()}": v for k, v in env.items()}))

    token = BotApiServer.TOKEN
    assert not needs(telegram_token=token)  # long polling
    assert not needs()
    assert needs(telegram_token=token, telegram_webhook_url="https://bot.example.com/tg")
    assert needs(kakao_secret="k" * 16, public_url="https://bot.example.com")
    assert needs(web_page="true") and needs(studio_token="s" * 16) and needs(health_check="true")
    assert needs_http(load_settings(env={}), chat=False)  # `fffusion web`


async def test_a_polling_telegram_bot_serves_no_http_unless_asked(env: dict[str, str]) -> None:
    port = int(env["FFFUSION_HTTP_PORT"])
    async with BotApiServer() as telegram:
        env.update(FFFUSION_TELEGRAM_TOKEN=telegram.token, FFFUSION_TELEGRAM_BASE_URL=telegram.base_url,
                   FFFUSION_TELEGRAM_BASE_FILE_URL=telegram.base_file_url)
        with _started(env, "run") as proc:
            alice = telegram.user(3001, "Alice")
            chat = telegram.private_chat(alice)
            telegram.send_text(alice, chat, "월급 들어왔다 신난다")  # sure: one meme, not a choice
            await telegram.expect("sendPhoto", chat, timeout=120)  # up and serving
            assert _listening(port) == set()
            code, err = await asyncio.to_thread(_ctrl_c, proc)  # the Bot API server answers meanwhile
        assert code in (0, 130) and "Traceback" not in err, err

        env["FFFUSION_HEALTH_CHECK"] = "true"  # the health check alone: on loopback, no page
        with _started(env, "run") as proc:
            await _wait_http(proc, f"http://127.0.0.1:{port}/healthz")
            assert _listening(port) == {LOOPBACK}
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 404
            assert (await asyncio.to_thread(_ctrl_c, proc))[0] in (0, 130)


async def test_the_web_page_on_every_interface_when_told(env: dict[str, str]) -> None:
    env.update(FFFUSION_WEB_PAGE="true", FFFUSION_HTTP_HOST="0.0.0.0")  # as the container image says
    with _started(env, "run") as proc:
        await _wait_http(proc, f"http://127.0.0.1:{env['FFFUSION_HTTP_PORT']}/")
        assert _listening(int(env["FFFUSION_HTTP_PORT"])) == {"00000000"}
        assert _ctrl_c(proc)[0] in (0, 130)
