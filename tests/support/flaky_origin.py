"""An image origin on loopback whose one image fails until the test lets it work."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.sources.images import real


@dataclass
class FlakyOrigin:
    """Serves /avatar.png as 503 while `failing`, a real PNG once cleared; /steady.png always."""

    server: TestServer
    failing: bool = True
    hits: list[bool] = field(default_factory=list)

    def url(self, path: str = "/avatar.png") -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"


async def start_flaky_origin() -> FlakyOrigin:
    """A started FlakyOrigin (close it with `await origin.server.close()`)."""
    png = real(".png")
    app = web.Application()
    origin = FlakyOrigin(TestServer(app, host="127.0.0.1"))

    async def avatar(request: web.Request) -> web.Response:
        origin.hits.append(origin.failing)
        if origin.failing:
            return web.Response(status=503, text="down")
        return web.Response(body=png, content_type="image/png")

    async def steady(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    app.router.add_get("/avatar.png", avatar)
    app.router.add_get("/steady.png", steady)
    await origin.server.start_server()
    return origin
