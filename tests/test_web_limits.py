"""The HTTP server against slow and numerous clients: headers and bodies have read deadlines, and open
connections are capped (3,000 slow-header connections were all still open after 30 s)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.web import WebServer, start_web
from core.service.service import MemeService
from tests.kakao.kakaoside import SECRET, free_port


@pytest.fixture
async def server(service: MemeService, tmp_path: Path) -> AsyncIterator[WebServer]:
    port = free_port()
    settings = Settings().replace(data_dir=tmp_path / "web", http_host="127.0.0.1", http_port=port,
        public_url=f"http://127.0.0.1:{port}", kakao_secret=SECRET,
        http_header_timeout_s=1.0, http_body_timeout_s=1.0, http_max_connections=5, web_page=True,
    )
    web = await start_web(service, settings)
    yield web
    await web.stop()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent before closing, or None when it kept the connection open that long."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except TimeoutError:
        return None


async def test_slow_headers_and_bodies_are_dropped(server: WebServer) -> None:
    conns = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
    for _, writer in conns:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finishes its headers
        await writer.drain()
    for reader, _ in conns:
        assert await _closed_within(reader, 5) is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"POST /kakao/{SECRET} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{".encode())
    await writer.drain()  # 1 byte of a 1,000-byte body, then nothing
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 408")
    for _, w in [*conns, (reader, writer)]:
        w.close()


async def test_connections_over_the_cap_are_closed_at_once(server: WebServer) -> None:
    held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(5)]
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await _closed_within(reader, 0.5) == b""  # refused: closed with nothing said
    writer.close()
    for _, w in held:
        w.close()
    await asyncio.sleep(0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)  # room again
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await _closed_within(reader, 5) or b"").startswith(b"HTTP/1.1 200")
    writer.close()
