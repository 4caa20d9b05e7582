"""Validators and lifetimes (proxy/web/freshness.py), then the same rules through the server."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from proxy.config import Cache
from proxy.urls import sign_url
from proxy.web.freshness import Lifetime, cache_control, drawn_etag, etag
from proxy.web.keys import REGISTRY
from tests.conftest import TEST_KEYS
from tests.support.flaky_origin import FlakyOrigin, start_flaky_origin
from tests.support.servers import start_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
CACHE = Cache(max_age_s=3600, stale_while_revalidate_s=86400, fallback_max_age_s=60)
NOW = 1_000_000.0


@pytest.mark.parametrize(("lifetime", "expected"), [
    (Lifetime(True, None), "public, max-age=31536000, immutable"),
    (Lifetime(False, None), "public, max-age=3600, stale-while-revalidate=86400"),
    (Lifetime(False, None, fallback=True), "public, max-age=60"),
    (Lifetime(True, None, fallback=True), "public, max-age=60"),
    # an expiring URL: never immutable, and max-age + stale-while-revalidate end at exp
    (Lifetime(True, int(NOW) + 60), "public, max-age=60"),
    (Lifetime(True, int(NOW) + 10 ** 9), "public, max-age=31536000"),
    (Lifetime(False, int(NOW) + 60), "public, max-age=60"),
    (Lifetime(False, int(NOW) + 5000), "public, max-age=3600, stale-while-revalidate=1400"),
    (Lifetime(False, int(NOW) + 30, fallback=True), "public, max-age=30"),
    (Lifetime(False, int(NOW)), "public, max-age=0"),
])
def test_cache_control_never_outlives_exp(lifetime: Lifetime, expected: str) -> None:
    assert cache_control(lifetime, CACHE, NOW) == expected


def test_lifetime_is_floored_so_a_cache_drops_the_entry_by_exp() -> None:
    assert cache_control(Lifetime(False, int(NOW) + 60), CACHE, NOW + 0.9) == "public, max-age=59"


def test_a_fallback_has_its_own_etag() -> None:
    assert drawn_etag("key", None) == etag("key")
    assert drawn_etag("key", "avatar=upstream_failed") != etag("key")
    assert drawn_etag("key", "avatar=upstream_failed") != drawn_etag("key", "avatar=bad_source")


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyOrigin]:
    origin = await start_flaky_origin()
    try:
        yield origin
    finally:
        await origin.server.close()


@pytest.fixture
async def photo(settings_factory) -> AsyncIterator[tuple[str, web.Application]]:  # type: ignore[no-untyped-def]
    """The server on the fixture templates (photo's `backup` has a fallback): (base, app)."""
    settings = settings_factory(templates={"dir": str(FIXTURES)},
                                sources={"allow_loopback": True, "fetch_timeout_s": 2.0})
    server, app = await start_app(settings)
    try:
        yield f"http://127.0.0.1:{server.port}", app
    finally:
        await server.close()


async def get(url: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


async def test_fallback_etag_is_never_confirmed_once_the_source_works(
        photo: tuple[str, web.Application], flaky: FlakyOrigin) -> None:
    photo_base, _ = photo
    url = sign_url("photo", {"photo": flaky.url("/steady.png"), "backup": flaky.url()},
                   keys=TEST_KEYS, fmt="png",
                   base_url=photo_base)
    status, fallback, placeholder = await get(url)
    assert status == 200 and fallback["X-Fallback"] == "backup=upstream_failed"
    assert fallback["Cache-Control"] == "public, max-age=60"
    # While the source still fails, the placeholder may be confirmed by its own tag.
    status, headers, _ = await get(url, **{"If-None-Match": fallback["ETag"]})
    assert status == 304 and headers["ETag"] == fallback["ETag"]
    flaky.failing = False
    status, real, body = await get(url, **{"If-None-Match": fallback["ETag"]})
    assert status == 200 and "X-Fallback" not in real
    assert real["ETag"] != fallback["ETag"] and body != placeholder
    # the fast path (a known URL) answers the fallback's tag with the real image too
    status, again, body_again = await get(url, **{"If-None-Match": fallback["ETag"]})
    assert status == 200 and again["X-Cache"] == "memory" and body_again == body
    status, _, _ = await get(url, **{"If-None-Match": real["ETag"]})
    assert status == 304


async def test_pinned_fallback_is_not_immutable(photo: tuple[str, web.Application],
                                                flaky: FlakyOrigin) -> None:
    photo_base, app = photo
    version = app[REGISTRY].get("photo").version
    url = sign_url("photo", {"photo": flaky.url("/steady.png"), "backup": flaky.url()},
                   keys=TEST_KEYS, fmt="png",
                   base_url=photo_base, version=version)
    status, headers, _ = await get(url)
    assert status == 200 and "X-Fallback" in headers
    assert headers["Cache-Control"] == "public, max-age=60"


@pytest.mark.parametrize("pin", [False, True])
async def test_expiring_url_lives_no_longer_than_exp(live, pin: bool) -> None:  # type: ignore[no-untyped-def]
    base, app = live
    version = app[REGISTRY].get("social-card").version if pin else None
    expires = int(time.time()) + 90
    url = sign_url("social-card", {"name": f"Expiring {pin}"}, keys=TEST_KEYS, fmt="png",
                   base_url=base, expires=expires, version=version)
    for tier in ("render", "memory"):       # the first GET, then the known-URL fast path
        status, headers, _ = await get(url)
        assert status == 200 and headers["X-Cache"] == tier
        control = headers["Cache-Control"]
        assert "immutable" not in control
        lifetimes = [int(n) for n in re.findall(r"(?:max-age|stale-while-revalidate)=(\d+)",
                                                  control)]
        assert 80 <= sum(lifetimes) <= 90, control
    status, headers, _ = await get(url, **{"If-None-Match": headers["ETag"]})
    assert status == 304 and "immutable" not in headers["Cache-Control"]
