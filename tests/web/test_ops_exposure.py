"""Operator views are safe behind nginx: /metrics and readiness details only for operators,
and `serve` refuses an open playground outside --dev."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import aiohttp

from tests.conftest import ROOT, TEST_KEYS
from tests.support.servers import start_app

VIA_PROXY = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        body = await resp.json() if resp.content_type.endswith("json") else await resp.text()
        return resp.status, body


async def test_metrics_only_for_direct_local_requests_by_default(  # type: ignore[no-untyped-def]
        live) -> None:
    base, _ = live
    status, body = await get(base + "/metrics")
    assert status == 200 and "picstream_renders_total" in body
    status, body = await get(base + "/metrics", VIA_PROXY)   # relayed by nginx
    assert status == 403 and body["code"] == "operators_only"


async def test_metrics_token_is_required_when_configured(settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(server={"metrics_token": "scrape-me-0123456789"})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert (await get(base + "/metrics"))[0] == 403
        assert (await get(base + "/metrics", {"Authorization": "Bearer nope"}))[0] == 403
        auth = {"Authorization": "Bearer scrape-me-0123456789", **VIA_PROXY}
        assert (await get(base + "/metrics", auth))[0] == 200
    finally:
        await server.close()


async def test_readyz_through_a_proxy_tells_only_ok(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, body = await get(base + "/readyz", VIA_PROXY)
    assert status == 200 and body == {"ok": True}
    status, body = await get(base + "/readyz")
    assert status == 200 and "template_errors" in body and "in_flight" in body


def test_serve_refuses_an_open_playground_outside_dev(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "PICSTREAM_SIGNING_KEYS": TEST_KEYS[0],
           "PICSTREAM_SERVER_PLAYGROUND": "true", "PICSTREAM_SERVER_PORT": "0",
           "PICSTREAM_SOURCES_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "proxy", "serve"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "server.playground" in result.stderr and "api.keys" in result.stderr
