"""One JSON access line per request: no signature, no query, bytes, ms, cache tier, template."""

from __future__ import annotations

import io
import json

import aiohttp

from proxy.logs import AccessLog
from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.support.servers import start_app


async def test_access_lines(settings) -> None:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    server, _ = await start_app(settings, access_log=AccessLog("json", stream))
    try:
        await _requests(f"http://127.0.0.1:{server.port}")
    finally:
        await server.close()
    _check(stream.getvalue())


async def _requests(base: str) -> None:
    url = sign_url("social-card", {"name": "Private Person"}, keys=TEST_KEYS, fmt="png",
                   base_url=base)
    async with aiohttp.ClientSession() as session:
        for target, headers in ((url, {"X-Request-Id": "trace-42"}),
                                (url, {"X-Request-Id": "bad id!"}),
                                (url.replace("Private", "Public"), {})):
            async with session.get(target, headers=headers) as resp:
                await resp.read()


def _check(text: str) -> None:
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert first["request_id"] == "trace-42"
    assert second["request_id"] != "bad id!" and len(second["request_id"]) == 16
    assert first["path"] == "/i/-/social-card.png"        # no signature, no query (a name)
    assert "Private" not in text and "/i/-/" in text
    assert (first["status"], first["cache"], first["template"]) == (200, "render", "social-card")
    assert first["bytes"] > 1000 and first["ms"] > 0
    assert second["cache"] == "memory"
    assert (third["status"], third["code"]) == (403, "bad_signature")
