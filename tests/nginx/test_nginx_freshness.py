"""Cache headers that never lie, checked where they matter: the shipped nginx.conf in front."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.nginx.test_nginx import fetch, path_of, prefix, start_counted, start_nginx  # noqa: F401
from tests.support.flaky_origin import start_flaky_origin

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


async def test_recovered_source_replaces_the_fallback_in_nginx_within_its_max_age(
        settings_factory, prefix: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    origin = await start_flaky_origin()
    app = await start_counted(settings_factory(
        templates={"dir": str(FIXTURES)}, cache={"fallback_max_age_s": 1},
        sources={"allow_loopback": True, "fetch_timeout_s": 2.0}))
    nginx = start_nginx(prefix, [app.port])
    try:
        url = sign_url("photo", {"photo": origin.url("/steady.png"), "backup": origin.url()},
                       keys=TEST_KEYS, fmt="png", base_url=nginx.url)
        async with aiohttp.ClientSession() as session:
            stored_at = time.monotonic()
            status, fallback, placeholder = await fetch(session, url)
            assert (status, fallback["X-Cache-Status"]) == (200, "MISS")
            assert fallback["X-Fallback"] == "backup=upstream_failed"
            status, headers, _ = await fetch(session, url)
            assert (status, headers["X-Cache-Status"]) == (200, "HIT")   # kept for its max-age
            origin.failing = False
            # nginx counts max-age in whole seconds, so the entry lives 1-2 s. Then it
            # revalidates with the fallback's ETag and the app must answer the real image;
            # the one request that starts that background refresh may get the stale copy.
            seen = []
            while time.monotonic() - stored_at < 5:
                status, headers, body = await fetch(session, url)
                seen.append((round(time.monotonic() - stored_at, 1),
                             headers["X-Cache-Status"], "X-Fallback" in headers))
                if "X-Fallback" not in headers:
                    break
                await asyncio.sleep(0.1)
            assert status == 200 and "X-Fallback" not in headers, seen
            assert body != placeholder and headers["ETag"] != fallback["ETag"]
            assert seen[-1][0] < 3.5, seen
            assert [s for s in seen if s[2] and s[1] != "HIT"] in ([], [seen[-2]]), seen
            real_tag = headers["ETag"]
            # From now on nginx holds the real image: the fallback's tag is never confirmed.
            for _ in range(3):
                status, headers, again = await fetch(
                    session, url, **{"If-None-Match": fallback["ETag"]})
                assert (status, again) == (200, body)
                assert "X-Fallback" not in headers
            status, _, _ = await fetch(session, url, **{"If-None-Match": real_tag})
            assert status == 304
    finally:
        nginx.stop()
        await app.server.close()
        await origin.server.close()


async def test_expiring_url_is_never_served_by_nginx_after_exp(
        settings_factory, prefix: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app = await start_counted(settings_factory())
    nginx = start_nginx(prefix, [app.port])
    try:
        expires = int(time.time()) + 2
        url = sign_url("email-header", {"headline": "Hi", "name": "Soon gone"}, keys=TEST_KEYS,
                       fmt="jpeg", width=300, base_url=nginx.url, expires=expires)
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                status, headers, _ = await fetch(session, url)
                assert status == 200
                assert "immutable" not in headers["Cache-Control"]
            await asyncio.sleep(max(0.0, expires - time.time()) + 0.2)
            status, headers, _ = await fetch(session, url)
            assert status == 410 and headers["Cache-Control"] == "no-store"
            # Not even as a stale copy while the app is down.
            await app.server.close()
            status, _, _ = await fetch(session, url)
            assert status != 200
        assert app.seen[path_of(url)] == 3
    finally:
        nginx.stop()
        await app.server.close()
