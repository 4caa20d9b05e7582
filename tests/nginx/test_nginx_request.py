"""One request model through real nginx: spellings redirect, Accept buckets and URL limits agree."""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp
import pytest
from yarl import URL

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.nginx.test_nginx import path_of, prefix, stack  # noqa: F401
from tests.support.spellings import SPELLINGS, canonical_path, jpg_and_jpeg_paths
from tests.web.test_accept_buckets import ACCEPT_TABLE


async def raw_get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET exactly these bytes (no yarl re-spelling), redirects not followed."""
    async with aiohttp.ClientSession() as session, \
            session.get(URL(url, encoded=True), headers=headers,
                        allow_redirects=False) as resp:
        return resp.status, dict(resp.headers), await resp.read()


@pytest.mark.parametrize("spell", SPELLINGS.values(), ids=SPELLINGS.keys())
async def test_non_canonical_spelling_redirects_through_nginx_and_is_never_stored(
        stack, spell: Callable[[str], str]) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    nginx, app = stack
    path = canonical_path()
    variant = spell(path)
    for _ in range(2):
        status, headers, _ = await raw_get(nginx.url + variant)
        assert status in (301, 400), (status, headers)
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Cache-Status"] == "MISS"
        if status == 301:
            assert headers["Location"] == path
    assert app.seen[path_of(nginx.url + variant)] == 2    # nginx kept nothing for it
    assert (await raw_get(nginx.url + path))[0] == 200


async def test_a_jpg_url_redirects_through_nginx_to_the_jpeg_url_and_is_never_stored(
        stack) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    nginx, app = stack
    legacy, canonical = jpg_and_jpeg_paths()
    for _ in range(2):
        status, headers, _ = await raw_get(nginx.url + legacy)
        assert (status, headers["Location"]) == (301, canonical)
        assert headers["Cache-Control"] == "no-store"
    assert app.seen[path_of(nginx.url + legacy)] == 2
    status, headers, _ = await raw_get(nginx.url + canonical)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"


async def test_nginx_and_the_app_pick_the_same_accept_bucket(stack) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    nginx, app = stack
    path = sign_url("email-header", {"headline": "Accept", "name": "Buckets"}, keys=TEST_KEYS,
                    fmt="auto", width=200)
    app_base = app.base()
    mismatches = []
    for accept, _ in ACCEPT_TABLE:
        direct = await raw_get(app_base + path, Accept=accept)
        through = await raw_get(nginx.url + path, Accept=accept)
        assert direct[0] == through[0] == 200, accept
        if direct[1]["Content-Type"] != through[1]["Content-Type"]:
            mismatches.append((accept, direct[1]["Content-Type"], through[1]["Content-Type"]))
    assert mismatches == []


async def test_url_between_the_app_limit_and_nginx_buffers_gets_the_apps_414(stack) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    nginx, app = stack
    long_path = sign_url("email-header", {"headline": "Long", "name": "x"}, keys=TEST_KEYS,
                         fmt="png") + "&pad=" + "a" * 12_000
    for base in (app.base(), nginx.url):
        status, headers, body = await raw_get(base + long_path)
        assert status == 414, (base, status, body[:200])
        assert headers["Cache-Control"] == "no-store"
        assert json.loads(body)["code"] == "uri_too_long"


async def test_nginx_cache_key_ignores_the_unsigned_host(stack) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    nginx, app = stack
    path = sign_url("email-header", {"headline": "Host", "name": "Key"}, keys=TEST_KEYS,
                    fmt="png", width=200)
    statuses = []
    for host in ("a.example", "b.example", "c.example"):
        status, headers, _ = await raw_get(nginx.url + path, Host=host)
        statuses.append((status, headers["X-Cache-Status"]))
    assert statuses == [(200, "MISS"), (200, "HIT"), (200, "HIT")]
    assert app.seen[path] == 1
