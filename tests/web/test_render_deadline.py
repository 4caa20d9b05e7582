"""A render past its deadline: the client gets 503, the render thread really stops (or keeps
its place in the gate until it does), and the next unrelated render is served."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.sources.images import real
from tests.support.servers import free_port, start_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
TIMEOUT_S = 1.0
# libvips stops between work units; on a shared 2-core CI machine a unit plus scheduling
# stays well under this.
OVERRUN_BOUND_S = 0.75


def thin_png() -> bytes:
    image = pyvips.Image.black(1, 3000).new_from_image([200, 10, 10]).cast("uchar")
    return bytes(image.copy(interpretation="srgb").pngsave_buffer())


@pytest.fixture
async def thin_origin() -> AsyncIterator[str]:
    thin, small = thin_png(), real(".png")

    async def serve(request: web.Request) -> web.Response:
        body = thin if request.path == "/thin.png" else small
        return web.Response(body=body, content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name:.*}", serve)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


def photo(base: str, src: str, **options: Any) -> str:
    return sign_url("photo", {"photo": src}, keys=TEST_KEYS, fmt="jpeg", base_url=base,
                    **options)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        body = await resp.read()
        return resp.status, (await resp.json() if resp.content_type.endswith("json")
                             else body)


async def test_thin_source_times_out_and_frees_its_thread(  # type: ignore[no-untyped-def]
        settings_factory, thin_origin: str) -> None:
    settings = settings_factory(
        templates={"dir": str(FIXTURES)}, sources={"allow_loopback": True},
        server={"render_threads": 1}, limits={"render_timeout_s": TIMEOUT_S})
    server, app = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            status, _ = await get(session, photo(base, thin_origin + "/thin.png", dpr=4))
            # 503 when the deadline stopped it; 200 once work is bounded by the output
            assert status in (200, 503)
            assert time.monotonic() - started < TIMEOUT_S + OVERRUN_BOUND_S + 0.5  # + fetch
            # The only render thread is free again: an unrelated cheap render is served.
            status, _ = await get(session, photo(base, thin_origin + "/small.png", width=100))
            assert status == 200
    finally:
        await server.close()


class StuckRender:
    """A render that ignores its deadline (work libvips cannot interrupt), until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import proxy.web.service as service

        self.real = service.render
        self.release = threading.Event()
        monkeypatch.setattr(service, "render", self)

    def __call__(self, job, memo):  # type: ignore[no-untyped-def]
        if job.output.width == 123:
            self.release.wait(10)
        return self.real(job, memo)


async def test_a_timed_out_render_keeps_its_place_until_its_thread_ends(  # type: ignore[no-untyped-def]
        settings_factory, monkeypatch, thin_origin: str) -> None:
    stuck = StuckRender(monkeypatch)
    settings = settings_factory(templates={"dir": str(FIXTURES)},
                                sources={"allow_loopback": True},
                                server={"render_threads": 1},
                                limits={"render_timeout_s": 0.5})
    server, app = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:
            status, _ = await get(session, photo(base, thin_origin + "/small.png", width=123))
            assert status == 503   # the client stopped waiting (deadline + backstop)
            status, ready = await get(session, base + "/readyz")
            # The thread still works: readiness must not call the pool free.
            assert ready["in_flight"] == 1
            assert status == 503 and ready["pool"] is False
            stuck.release.set()
            for _ in range(50):
                status, ready = await get(session, base + "/readyz")
                if ready["in_flight"] == 0:
                    break
                await asyncio.sleep(0.05)
            assert ready["in_flight"] == 0 and status == 200
            status, _ = await get(session, photo(base, thin_origin + "/small.png", width=100))
            assert status == 200
    finally:
        stuck.release.set()
        await server.close()
