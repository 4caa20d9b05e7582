"""Memory hits written as bytes (proxy/web/written.py): HTTP framing on a real socket."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from proxy.logs import AccessLog
from proxy.urls import sign_url
from proxy.web.written import head_lines
from tests.conftest import TEST_KEYS
from tests.support.servers import start_app


async def _read_response(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One HTTP/1.1 response framed by its Content-Length: status line, headers, body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(": ")
        assert name.lower() not in headers, f"header {name} twice"
        headers[name.lower()] = value
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return status, headers, body


def _get(path: str, *extra: str, version: str = "HTTP/1.1") -> bytes:
    return "\r\n".join((f"GET {path} {version}", "Host: test", *extra, "", "")).encode()


@pytest.fixture
async def served(settings):  # type: ignore[no-untyped-def]
    """A server with one image already rendered (the next GET of `path` is a memory hit)."""
    stream = io.StringIO()
    server, _ = await start_app(settings, access_log=AccessLog("json", stream))
    url = sign_url("social-card", {"name": "Written Hit"}, keys=TEST_KEYS, fmt="png",
                   base_url="")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_get(url))
    status, headers, body = await _read_response(reader)
    assert status == "HTTP/1.1 200 OK" and headers["x-cache"] == "render"
    writer.close()
    yield server, url, body, headers, stream
    await server.close()


async def test_pipelined_hits_come_back_whole_and_in_order(served) -> None:  # type: ignore[no-untyped-def]
    server, url, body, rendered, stream = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(_get(url, f"X-Request-Id: pipe-{i}") for i in range(3)))
    for i in range(3):
        status, headers, got = await _read_response(reader)
        assert status == "HTTP/1.1 200 OK"
        assert got == body
        assert headers["x-cache"] == "memory" and headers["x-request-id"] == f"pipe-{i}"
        assert "connection" not in headers              # HTTP/1.1: keep-alive by default
        # the routed answer's headers, values and all, but the per-request ones
        for name in rendered.keys() - {"date", "x-request-id", "server-timing", "x-cache"}:
            assert headers[name] == rendered[name], name
        assert headers["server"] == rendered["server"]
        assert headers["date"].endswith(" GMT")
    # the connection is still open for more
    writer.write(_get(url))
    assert (await _read_response(reader))[2] == body
    writer.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    piped = [line for line in lines if line["request_id"].startswith("pipe-")]
    assert [(line["status"], line["cache"], line["bytes"]) for line in piped] == (
        [(200, "memory", len(body))] * 3)


@pytest.mark.parametrize("request_lines", [
    ("HTTP/1.0", ()),
    ("HTTP/1.1", ("Connection: close",)),
])
async def test_a_hit_that_closes_goes_through_aiohttp(served, request_lines) -> None:  # type: ignore[no-untyped-def]
    server, url, body, _, _ = served
    version, extra = request_lines
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_get(url, *extra, version=version))
    status, headers, got = await _read_response(reader)
    assert status.endswith(" 200 OK") and headers["x-cache"] == "memory" and got == body
    assert await asyncio.wait_for(reader.read(), 10) == b""     # and the server closed it
    writer.close()


async def test_a_client_that_stops_reading_is_paused_not_buffered(served) -> None:  # type: ignore[no-untyped-def]
    # 400 pipelined hits of a ~40 KB image: the server must wait for the reader (drain)
    # rather than queue 16 MB, and every response must still arrive whole once it reads.
    server, url, body, _, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=1 << 16)
    count = 400
    writer.write(b"".join(_get(url) for _ in range(count)))
    await writer.drain()
    await asyncio.sleep(0.5)
    handlers = server.runner.server.connections  # type: ignore[union-attr]
    queued = max(handler.transport.get_write_buffer_size() for handler in handlers
                 if handler.transport is not None)
    assert queued < 1 << 20, f"{queued} bytes queued for a client that does not read"
    for _ in range(count):
        assert (await _read_response(reader))[2] == body
    writer.close()


async def test_a_client_gone_before_the_answer_leaves_the_server_serving(served) -> None:  # type: ignore[no-untyped-def]
    server, url, body, _, _ = served
    for _ in range(20):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_get(url))
        writer.transport.abort()                       # RST, no goodbye
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_get(url))
    assert (await _read_response(reader))[2] == body
    writer.close()


def test_head_lines_refuse_what_would_split_the_response() -> None:
    assert head_lines({"ETag": '"abc"', "X-Cache": "memory"}) == (
        b'ETag: "abc"\r\nX-Cache: memory\r\n')
    for name, value in (("X-Bad", "a\r\nSet-Cookie: x=1"), ("X-Bad", "a\nb"),
                        ("X-Bad", "a\x00"), ("Bad Name", "a"), ("X:Bad", "a")):
        with pytest.raises(ValueError):
            head_lines({name: value})
