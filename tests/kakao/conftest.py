"""A loopback server that plays Kakao's image CDN: serves people's photos and records every request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web


class PhotoServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        name = request.match_info["tail"]
        if name == "redirect":
            raise web.HTTPFound(request.query["to"])
        if name == "huge-length":  # announces more than any limit, sends little
            return web.Response(body=b"x" * 10, headers={"Content-Length": str(1 << 40)})
        if name == "stream":  # no Content-Length: the limit must hold while reading
            resp = web.StreamResponse()
            await resp.prepare(request)
            for _ in range(int(request.query.get("chunks", "64"))):
                await resp.write(b"\0" * 65536)
            return resp
        if name == "slow":
            await asyncio.sleep(float(request.query.get("s", "5")))
        if name not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[name], content_type="image/jpeg")


@pytest.fixture
async def photo_server() -> AsyncIterator[PhotoServer]:
    server = PhotoServer()
    await server.start()
    yield server
    await server.close()
