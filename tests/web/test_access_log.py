"""One JSON access line per request: no signature, no query, bytes, ms, cache tier, template."""

from __future__ import annotations

import io
import json

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from proxy.logs import AccessLog, json_fields
from proxy.urls import sign_url
from proxy.web.keys import ACCESS_LOG
from proxy.web.middleware import ENCODED_LINES, RequestRecorder
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


def test_a_line_from_encoded_fields_is_the_line_from_the_fields() -> None:
    head = {"method": "GET", "path": "/i/-/caf\u00e9 \"x\".png", "status": 200, "bytes": 1234}
    tail = {"code": None, "cache": "memory", "template": "social-card"}
    plain, encoded = io.StringIO(), io.StringIO()
    AccessLog("json", plain).write({"request_id": "abc-1", **head, "ms": 0.25, **tail})
    AccessLog("json", encoded).write_json("abc-1", 0.25, (json_fields(head), json_fields(tail)))
    one, two = (json.loads(s.getvalue()) for s in (plain, encoded))
    one.pop("ts"), two.pop("ts")
    assert list(one.items()) == list(two.items())


async def test_the_recorder_keeps_encoded_fields_per_outcome_and_bounded() -> None:
    recorder = RequestRecorder()
    stream = io.StringIO()
    app = web.Application()
    app[ACCESS_LOG] = AccessLog("json", stream)
    await recorder.bind(app)
    request = make_mocked_request("GET", "/i/sig/social-card.png?name=A", app=app)
    for status, size, tier in ((200, 10, "memory"), (304, None, "304"), (200, 10, "memory")):
        facts = recorder.start(request)
        facts.tier, facts.template = tier, "social-card"
        recorder.finish(request, facts, status, size, 1.5, route="r")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["status"], line["bytes"], line["cache"]) for line in lines] == [
        (200, 10, "memory"), (304, None, "304"), (200, 10, "memory")]
    assert lines[0]["path"] == "/i/-/social-card.png"
    for i in range(ENCODED_LINES + 5):
        unique = make_mocked_request("GET", f"/i/sig/social-card.png?name={i}", app=app)
        recorder.finish(unique, recorder.start(unique), 200, 1, 1.0, route="r")
    assert len(recorder._encoded) <= ENCODED_LINES
