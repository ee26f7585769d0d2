"""Loopback HTTP servers that play a platform's side in tests."""

from __future__ import annotations

from aiohttp import web


async def start_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve `app` on 127.0.0.1 at a free port; returns the runner (cleanup() stops it) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]
