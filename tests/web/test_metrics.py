"""GET /metrics: per-app Prometheus registry fed by requests, renders and cache state."""

from __future__ import annotations

import aiohttp
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from proxy.config import Settings
from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.support.servers import start_app


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def scrape(session: aiohttp.ClientSession, base: str) -> str:
    async with session.get(base + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        assert resp.headers["Cache-Control"] == "no-store"
        return await resp.text()


async def test_requests_renders_and_cache_tiers_are_counted(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign_url("email-header", {"headline": "Hi", "name": "Metric"}, keys=TEST_KEYS,
                   fmt="jpeg", width=300, base_url=base)
    route = "/i/{sig}/{template}.{fmt}"
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(url) as resp:
                assert resp.status == 200
        async with session.get(url.replace("/i/", "/i/x", 1)) as resp:
            assert resp.status == 403
        text = await scrape(session, base)
    assert sample(text, "picstream_http_requests_total", route=route, method="GET",
                  status="200") == 3
    assert sample(text, "picstream_http_requests_total", route=route, status="403") == 1
    assert sample(text, "picstream_http_request_duration_seconds_count", route=route) == 4
    assert sample(text, "picstream_images_served_total", tier="render") == 1
    assert sample(text, "picstream_images_served_total", tier="memory") == 2
    assert sample(text, "picstream_render_duration_seconds_count", template="email-header",
                  format="jpeg") == 1
    assert sample(text, "picstream_errors_total", code="bad_signature") == 1
    assert sample(text, "picstream_cache_hits_total", tier="memory") == 2
    assert sample(text, "picstream_cache_misses_total", tier="memory") == 1
    assert sample(text, "picstream_cache_entries", tier="memory") == 1
    assert sample(text, "picstream_cache_bytes", tier="memory") > 0
    assert sample(text, "picstream_renders_total") == 1
    assert sample(text, "picstream_renders_in_flight") == 0
    assert sample(text, "picstream_render_queue_max") == 64
    assert sample(text, "process_resident_memory_bytes") > 0
    assert "picstream_batches_running 0.0" in text          # the API is mounted, no batches


async def test_unknown_paths_share_one_route_label(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    async with aiohttp.ClientSession() as session:
        for path in ("/nope", "/nope/again", "/x?y=1"):
            async with session.get(base + path) as resp:
                assert resp.status == 404
        text = await scrape(session, base)
    assert sample(text, "picstream_http_requests_total", route="unmatched", status="404") == 3
    assert "/nope" not in text


async def test_disk_tier_is_reported_when_configured(settings_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = settings_factory(cache={"disk_dir": str(tmp_path / "disk")})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    try:
        url = sign_url("email-header", {"headline": "Hi"}, keys=TEST_KEYS, fmt="png",
                       width=200, base_url=base)
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                assert resp.status == 200
            text = await scrape(session, base)
    finally:
        await server.close()
    assert sample(text, "picstream_cache_misses_total", tier="disk") == 1
    assert sample(text, "picstream_cache_entries", tier="disk") == 1


async def test_each_app_has_its_own_registry(settings: Settings) -> None:
    first, _ = await start_app(settings)
    second, _ = await start_app(settings)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{first.port}/healthz") as resp:
                assert resp.status == 200
            text = await scrape(session, f"http://127.0.0.1:{second.port}")
    finally:
        await first.close()
        await second.close()
    assert sample(text, "picstream_http_requests_total", route="/healthz") == 0
    names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(n.startswith("picstream_") for n in names)


async def test_requests_errors_hits_and_api_renders_carry_the_template(settings_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_api import API_KEY, api_keys

    server, _ = await start_app(settings_factory(api={"keys": api_keys(API_KEY)}))
    base = f"http://127.0.0.1:{server.port}"
    route = "/i/{sig}/{template}.{fmt}"
    try:
        url = sign_url("email-header", {"headline": "Hi", "name": "Labels"}, keys=TEST_KEYS,
                       fmt="png", width=200, base_url=base)
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                async with session.get(url) as resp:
                    assert resp.status == 200
            async with session.post(base + "/v1/render", headers={
                    "Authorization": f"Bearer {API_KEY}"}, json={
                    "template": "social-card", "variables": {"name": "Api Door"},
                    "output": {"format": "webp"}}) as resp:
                assert resp.status == 200, await resp.text()
            unknown = url.replace("email-header.png", "no-such-template.png")
            async with session.get(unknown) as resp:
                assert resp.status == 403          # unsigned for that name: no template label
            text = await scrape(session, base)
    finally:
        await server.close()
    assert sample(text, "picstream_http_requests_total", route=route, status="200",
                  template="email-header") == 2
    assert sample(text, "picstream_images_served_total", tier="render",
                  template="email-header") == 1
    assert sample(text, "picstream_images_served_total", tier="memory",
                  template="email-header") == 1
    # A render through the API counts under its template like a GET's.
    assert sample(text, "picstream_render_duration_seconds_count", template="social-card",
                  format="webp") == 1
    assert sample(text, "picstream_renders_total") == 2
    assert sample(text, "picstream_errors_total", code="bad_signature", template="") == 1
    assert "no-such-template" not in text
