"""Remote sources through the real server: hostile origins get documented statuses, quickly,
no request reaches a forbidden address, and the server keeps serving afterwards."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pyvips
from multidict import CIMultiDict

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.sources.test_fetch import Server, canary, origin, servers  # noqa: F401
from tests.support.servers import start_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


@pytest.fixture
async def app_base(settings_factory) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    settings = settings_factory(
        templates={"dir": str(FIXTURES)},
        sources={"allow_loopback": True, "connect_timeout_s": 0.5, "fetch_timeout_s": 1.0,
                 "max_bytes": 2_000_000, "max_frames": 10, "data_dir": "/tmp/ps-e2e"},
        limits={"render_timeout_s": 5.0})
    server, _ = await start_app(settings)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def fetch(base: str, variables: dict[str, str]) -> tuple[int, CIMultiDict[str], bytes, float]:
    url = sign_url("photo", variables, keys=TEST_KEYS, fmt="png", base_url=base)
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return (resp.status, CIMultiDict(resp.headers), await resp.read(),
                time.monotonic() - started)


async def test_remote_image_renders(app_base: str, origin: Server) -> None:  # noqa: F811
    status, headers, body, _ = await fetch(app_base, {"photo": origin.url("/img.jpg")})
    assert status == 200, body
    assert "fetch;dur=" in headers["Server-Timing"]
    assert pyvips.Image.new_from_buffer(body, "").width == 400


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/404", 502, "upstream_failed"),
    ("/slow", 502, "upstream_failed"),
    ("/loop", 502, "upstream_failed"),
    ("/huge", 422, "bad_source"),
    ("/bomb", 422, "bad_source"),
    ("/lying", 422, "bad_source"),
    ("/truncated.jpg", 422, "bad_source"),
    ("/flood.png", 422, "bad_source"),
    ("/frames.gif", 422, "bad_source"),
    ("/art.svg", 422, "bad_source"),
    ("/bad-location?to=//[bad", 502, "upstream_failed"),          # was a 500
    ("/bad-location?to=http://127.0.0.1:99999/", 502, "upstream_failed"),
])
async def test_hostile_origin_gives_documented_status(app_base: str, origin: Server,  # noqa: F811
                                                      path: str, status: int, code: str) -> None:
    got, headers, body, elapsed = await fetch(app_base, {"photo": origin.url(path)})
    assert got == status, body
    assert json.loads(body)["code"] == code
    assert headers["Cache-Control"] == "no-store"
    assert elapsed < 3.0


async def test_forbidden_addresses_never_reached(app_base: str, origin: Server,  # noqa: F811
                                                 canary: Server) -> None:  # noqa: F811
    targets = [
        canary.url("/x.png"),
        f"http://127.0.0.2:{canary.port}/x.png",
        f"http://[::ffff:127.0.0.2]:{canary.port}/x.png",
        f"http://2130706434:{canary.port}/x.png",
        origin.url(f"/redirect?to=http://127.0.0.2:{canary.port}/x.png"),
        origin.url(f"/redirect?to=http://0x7f.0.0.2:{canary.port}/x.png"),
    ]
    for target in targets:
        status, _, body, elapsed = await fetch(app_base, {"photo": target})
        assert status in (422, 502), (target, body)
        assert elapsed < 3.0
    assert canary.hits == []


async def test_failed_source_with_fallback_uses_it_for_that_layer(app_base: str,  # noqa: F811
                                                                  origin: Server) -> None:  # noqa: F811
    status, headers, body, _ = await fetch(app_base, {"photo": origin.url("/img.png"),
                                                      "backup": origin.url("/404")})
    assert status == 200
    assert headers["X-Fallback"] == "backup=upstream_failed"
    assert headers["Cache-Control"].startswith("public, max-age=60")
    image = pyvips.Image.new_from_buffer(body, "")
    placeholder_grey = list(image(210, 5))[:3]
    assert placeholder_grey == [0x64, 0x74, 0x8B]  # the avatar placeholder's background
    # a truncated file that passes the header check and fails while decoding falls back too
    status, headers, _, _ = await fetch(app_base, {"photo": origin.url("/img.png"),
                                                   "backup": origin.url("/truncated.jpg")})
    assert status == 200 and "backup=" in headers["X-Fallback"]


async def test_malformed_redirect_draws_the_fallback(app_base: str,  # noqa: F811
                                                     origin: Server) -> None:  # noqa: F811
    status, headers, _, _ = await fetch(app_base, {
        "photo": origin.url("/img.png"), "backup": origin.url("/bad-location?to=//[bad")})
    assert status == 200
    assert headers["X-Fallback"] == "backup=upstream_failed"


async def test_logged_details_carry_no_source_query(app_base: str, origin: Server,  # noqa: F811
                                                    caplog: pytest.LogCaptureFixture) -> None:
    # presigned source URLs carry bearer tokens in their query
    with caplog.at_level("INFO", logger="picstream.error"):
        status, _, _, _ = await fetch(app_base, {
            "photo": origin.url("/404?X-Amz-Signature=s3cr3t&token=t0k3n")})
    assert status == 502
    assert "/404?" in caplog.text          # the detail is logged, without its query
    assert "s3cr3t" not in caplog.text and "t0k3n" not in caplog.text


async def test_slow_fetch_holds_no_render_slot_and_server_stays_up(  # noqa: F811
        app_base: str, origin: Server) -> None:  # noqa: F811
    import asyncio

    slow = asyncio.create_task(fetch(app_base, {"photo": origin.url("/slow")}))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    status, _, _, _ = await fetch(app_base, {"photo": origin.url("/img.png")})
    assert status == 200 and time.monotonic() - started < 1.0
    assert (await slow)[0] == 502
    async with aiohttp.ClientSession() as session, session.get(app_base + "/healthz") as resp:
        assert resp.status == 200


async def test_loopback_names_refused_by_default(settings_factory, origin: Server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    settings = settings_factory(templates={"dir": str(FIXTURES)})
    assert settings.sources.allow_loopback is False
    server, _ = await start_app(settings)
    try:
        base = f"http://127.0.0.1:{server.port}"
        for host in ("localhost", "127.0.0.1", "[::1]", "127.1", "0177.0.0.1"):
            url = f"http://{host}:{origin.port}/img.png"
            status, _, body, _ = await fetch(base, {"photo": url})
            assert status in (422, 502), (host, body)
        assert origin.hits == []
    finally:
        await server.close()


async def test_shipped_photo_template_resizes_a_remote_photo(settings_factory,  # type: ignore[no-untyped-def]
                                                             origin: Server) -> None:  # noqa: F811
    settings = settings_factory(
        templates={"dir": str(Path(__file__).resolve().parents[2] / "templates")},
        sources={"allow_loopback": True, "data_dir": "/tmp/ps-e2e"})
    server, _ = await start_app(settings)
    try:
        base = f"http://127.0.0.1:{server.port}"
        url = sign_url("photo", {"src": origin.url("/img.jpg"), "fit": "contain"},
                       keys=TEST_KEYS, fmt="webp", width=600, height=400, base_url=base)
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            body = await resp.read()
            assert resp.status == 200, body
            assert resp.headers["Content-Type"] == "image/webp"
        image = pyvips.Image.new_from_buffer(body, "")
        assert (image.width, image.height) == (600, 400)
    finally:
        await server.close()
