"""Requests aiohttp refuses before our middleware: JSON, no-store, one JSON log line each.

Run against `picstream serve` in a subprocess, since the runner (proxy/web/protocol.py) is
what answers them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from proxy.config import Settings, replace
from tests.support.servers import ProcessServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    from proxy.config import load_settings
    from tests.conftest import TEST_KEYS

    settings: Settings = replace(load_settings(environ={}), signing={"keys": TEST_KEYS},
                                 server={"log_format": "json", "port": 0},
                                 sources={"data_dir": str(tmp_path_factory.mktemp("data"))})
    proc = ProcessServer(settings)
    try:
        yield proc
    finally:
        proc.stop()


def raw(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes; return the response head and body (the server closes the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("request_bytes", [
    b"GE\x01T /i/secret-path HTTP/1.1\r\nHost: x\r\n\r\n",                      # bad method
    b"GET /i/secret-path HTTP/9.9x\r\nHost: x\r\n\r\n",                         # bad version
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",  # long header
    b"GET /i/secret-path" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",     # long line
])
def test_protocol_error_is_json_no_store_and_echoes_nothing(server: ProcessServer,
                                                            request_bytes: bytes) -> None:
    head, body = raw(server.port, request_bytes)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert status_line.split()[1].startswith("4"), status_line
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)
    assert error["ok"] is False and error["status"] == int(status_line.split()[1])
    assert b"secret-path" not in body and b"aaaa" not in body


def test_protocol_errors_log_one_json_object_per_line(server: ProcessServer) -> None:
    raw(server.port, b"GE\x01T / HTTP/1.1\r\n\r\n")
    raw(server.port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    server.stop()
    # `serve` prints its banner (address, example URLs) before logging starts.
    banner = ("PicStream on ", "Try:", "  http", "  (")
    lines = [line for line in server.log.read_text().splitlines()
             if line.strip() and not line.startswith(banner)]
    records = [json.loads(line) for line in lines]     # a traceback line would not parse
    protocol = [r for r in records if r.get("logger") == "picstream.protocol"]
    assert len(protocol) >= 2
    assert all(r["status"] >= 400 for r in protocol)
