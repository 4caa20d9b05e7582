"""Known memory hits are answered before routing (proxy/web/hits.py), exactly as after it."""

from __future__ import annotations

import io
import json

import aiohttp
from multidict import CIMultiDict

from proxy.logs import AccessLog
from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.support.servers import start_app
from tests.web.test_metrics import sample, scrape

ROUTE = "/i/{sig}/{template}.{fmt}"
SKIP = ("date", "x-request-id", "server-timing")


async def test_a_known_hit_skips_the_router_and_answers_like_a_routed_one(settings) -> None:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    server, app = await start_app(settings, access_log=AccessLog("json", stream))
    base = f"http://127.0.0.1:{server.port}"
    routed: list[str] = []
    resolve = app.router.resolve

    async def counting(request):  # type: ignore[no-untyped-def]
        routed.append(request.path)
        return await resolve(request)

    app.router.resolve = counting  # type: ignore[method-assign]
    url = sign_url("social-card", {"name": "Known Hit"}, keys=TEST_KEYS, fmt="png",
                   base_url=base)
    auto = sign_url("social-card", {"name": "Known Hit"}, keys=TEST_KEYS, fmt="auto",
                    base_url=base)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as first:
                assert first.headers["X-Cache"] == "render"
                body = await first.read()
                routed_headers = CIMultiDict(first.headers)
            async with session.get(url, headers={"X-Request-Id": "hit-7"}) as hit:
                assert hit.headers["X-Cache"] == "memory"
                assert hit.headers["X-Request-Id"] == "hit-7"
                assert await hit.read() == body
                hit_headers = CIMultiDict(hit.headers)
            async with session.head(url) as head:
                assert head.status == 200 and head.headers["X-Cache"] == "memory"
            async with session.get(url, headers={"If-None-Match": hit_headers["ETag"]}) as cond:
                assert cond.status == 304
            for accept in ("image/webp", "image/webp", "image/avif", "image/avif"):
                async with session.get(auto, headers={"Accept": accept}) as negotiated:
                    assert negotiated.headers["Content-Type"] == accept
            text = await scrape(session, base)
    finally:
        await server.close()
    # Only the misses (the render, each Accept bucket's first) and /metrics were routed.
    assert len([p for p in routed if p.startswith("/i/")]) == 3
    # the same headers as the routed answer, but the cache tier and the per-request ones
    assert {k.lower() for k in hit_headers if k.lower() not in SKIP} == {
        k.lower() for k in routed_headers if k.lower() not in SKIP}
    for name, value in routed_headers.items():
        if name.lower() not in (*SKIP, "x-cache"):
            assert hit_headers[name] == value, name
    assert "render;dur" not in hit_headers["Server-Timing"]
    assert sample(text, "picstream_http_requests_total", route=ROUTE, method="GET",
                  status="200", template="social-card") == 6
    assert sample(text, "picstream_http_requests_total", route=ROUTE, method="HEAD",
                  status="200", template="social-card") == 1
    assert sample(text, "picstream_http_requests_total", route=ROUTE, status="304",
                  template="social-card") == 1
    assert sample(text, "picstream_images_served_total", tier="memory",
                  template="social-card") == 4
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    hit_line = next(line for line in lines if line["request_id"] == "hit-7")
    assert (hit_line["path"], hit_line["status"], hit_line["cache"], hit_line["template"]) == (
        "/i/-/social-card.png", 200, "memory", "social-card")
    assert hit_line["bytes"] == len(body) and hit_line["ms"] >= 0
