"""Logs cannot be forged (console lines escape controls) and carry no source-URL tokens."""

from __future__ import annotations

import io
import logging

from proxy.errors import UpstreamFailed
from proxy.logs import AccessLog, ConsoleFormatter
from proxy.redact import escape_controls, redact_urls

FORGED = "/i/-/card.png\r\n12:00:00 GET /admin 200 1.0ms\u2028"


def test_access_line_with_crlf_in_the_path_stays_one_line() -> None:
    stream = io.StringIO()
    AccessLog("console", stream).write({"method": "GET", "path": FORGED, "status": 200,
                                        "ms": 1.0, "cache": "memory", "code": None})
    text = stream.getvalue()
    assert text.count("\n") == 1 and "\r" not in text and "\u2028" not in text
    assert "\\x0d\\x0a12:00:00 GET /admin" in text


def test_console_log_record_with_controls_stays_one_line() -> None:
    record = logging.LogRecord("picstream.error", logging.INFO, __file__, 1,
                               "request %s: %s", ("abc", "x\nforged line\x1b[31m"), None)
    line = ConsoleFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line
    access = logging.LogRecord("picstream.access", logging.INFO, __file__, 1, "request", (), None)
    access.fields = {"method": "GET", "path": FORGED, "status": 200, "ms": 1.0}
    assert "\n" not in ConsoleFormatter().format(access)


def test_urls_lose_their_query_fragment_and_credentials() -> None:
    text = ("https://b.s3.amazonaws.com/a.png?X-Amz-Signature=abc&X-Amz-Credential=k: HTTP 403"
            " -> 'http://user:pw@h.test:8080/x#t=1'")
    out = redact_urls(text)
    assert "abc" not in out and "pw" not in out and "t=1" not in out
    assert "https://b.s3.amazonaws.com/a.png?…" in out and "http://h.test:8080/x?…" in out
    assert redact_urls("https://x.test/a.png: HTTP 500") == "https://x.test/a.png: HTTP 500"


def test_error_details_are_redacted_where_they_are_made() -> None:
    error = UpstreamFailed("source could not be fetched",
                           detail="https://x.test/a.png?sig=SECRET: HTTP 404")
    assert error.detail is not None and "SECRET" not in error.detail


def test_escape_controls_leaves_ordinary_text() -> None:
    assert escape_controls("/i/-/Zoë 名前.png") == "/i/-/Zoë 名前.png"
