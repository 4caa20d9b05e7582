"""A local image origin that answers after a delay (or when released): slow sources on demand."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support.servers import free_port

AVATAR = (Path(__file__).resolve().parents[2] / "templates" / "art" /
          "avatar-placeholder.png").read_bytes()


class SlowOrigin:
    """Serves a PNG at any path after `delay_s`, or once `release()` is called when gated."""

    def __init__(self, delay_s: float = 0.0, *, gated: bool = False) -> None:
        self.delay_s = delay_s
        self.gated = gated
        self.requests = 0
        self.arrived = asyncio.Event()
        self._released = asyncio.Event()
        app = web.Application()
        app.router.add_get("/{name:.*}", self._serve)
        self.server = TestServer(app, host="127.0.0.1", port=free_port())

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrived.set()
        if self.gated:
            await self._released.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.Response(body=AVATAR, content_type="image/png")

    def url(self, name: str) -> str:
        """An image URL on this origin (distinct names defeat the fetcher's cache)."""
        return f"http://127.0.0.1:{self.server.port}/{name}.png"

    def release(self) -> None:
        """Let every waiting and future request through."""
        self._released.set()

    async def __aenter__(self) -> SlowOrigin:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        await self.server.close()
