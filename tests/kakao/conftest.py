"""Fixtures for the KakaoTalk tests; the simulated Kakao side lives in tests/kakao/kakaoside.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.web import WebServer, start_web
from core.service.service import MemeService
from tests.kakao.kakaoside import SECRET, OpenBuilder, PhotoServer, free_port

StartBot = Callable[..., Awaitable[OpenBuilder]]


@pytest.fixture
async def photo_server() -> AsyncIterator[PhotoServer]:
    server = PhotoServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def start_bot(service: MemeService, tmp_path: Path, photo_server: PhotoServer) -> AsyncIterator[StartBot]:
    """Starts the project's web server on the real service; settings overrides per call. Blocks have
    callback enabled (bot.final) except where a test is about the direct answer (bot.say)."""
    servers: list[WebServer] = []
    session = aiohttp.ClientSession()
    loopback = f"127.0.0.1:{photo_server.port}"  # Kakao's hosts, played on loopback (not a default port: named)

    async def start(**overrides: Any) -> OpenBuilder:
        port = free_port()
        settings = Settings().replace(data_dir=tmp_path / f"web{len(servers)}", http_host="127.0.0.1", http_port=port,
            public_url=f"http://127.0.0.1:{port}", kakao_secret=SECRET,
            **{"kakao_image_hosts": (loopback,), "kakao_callback_hosts": (loopback,), **overrides},
        )
        servers.append(await start_web(service, settings))
        return OpenBuilder(f"http://127.0.0.1:{port}", session, photo_server)

    yield start
    for server in servers:
        await server.stop()
    await session.close()
