"""Logging: one JSON object per line in production, readable lines in development."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sys
import time
from json.encoder import encode_basestring
from typing import Any, TextIO

from .redact import escape_controls


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            body.update(fields)
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 GET /i/-/card.png 200 3.1ms memory` for access lines, plain text otherwise."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        if isinstance(fields, dict) and "path" in fields:
            extra = " ".join(str(fields[k]) for k in ("cache", "code") if fields.get(k))
            return (f"{stamp} {fields['method']} {escape_controls(str(fields['path']))} "
                    f"{fields['status']} {fields['ms']}ms {extra}").rstrip()
        # A line-based format: a decoded path or a detail with CR/LF would forge lines.
        text = (f"{stamp} {record.levelname.lower()} {record.name}: "
                f"{escape_controls(record.getMessage())}")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(fmt: str, level: int = logging.INFO) -> None:
    """Route picstream's loggers to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger("picstream")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # aiohttp's own loggers (protocol errors, shutdown) in the same format: one line each.
    aiohttp_log = logging.getLogger("aiohttp")
    aiohttp_log.handlers[:] = [handler]
    aiohttp_log.propagate = False
    logging.getLogger("aiohttp.access").disabled = True


def _json_value(value: object) -> str:
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return repr(value)
    if isinstance(value, float):
        return "null"
    return encode_basestring(str(value))


# An access line's fields between the request id and the time, and after the time, encoded.
JsonFields = tuple[str, str]


def json_fields(fields: dict[str, Any]) -> str:
    """`"key": value, ...` for flat fields whose keys are our own names (never escaped).

    A JSONEncoder took about 12 µs per access line, as much as a hit's own handler; the
    access fields are flat strings and numbers, so each value is encoded on its own.
    """
    parts = []
    for key, value in fields.items():
        kind = value.__class__
        if kind is str:
            parts.append(f'"{key}": {encode_basestring(value)}')
        elif value is None:
            parts.append(f'"{key}": null')
        elif kind is int:
            parts.append(f'"{key}": {value}')
        else:
            parts.append(f'"{key}": {_json_value(value)}')
    return ", ".join(parts)


class AccessLog:
    """One line per request, written straight to a stream.

    The logging module's record, formatter and handler lock cost about 60 µs a line, as much
    as the rest of a cache hit (measured with cProfile under wrk); this costs about 10 µs.
    """

    def __init__(self, fmt: str, stream: TextIO | None = None, *,
                 flush_after_s: float = 0.0) -> None:
        self.json = fmt == "json"
        self.stream = stream if stream is not None else sys.stderr
        self._second = -1
        self._stamp = self._local = ""
        # With flush_after_s > 0 (the server), lines wait up to that long and leave in one
        # write: a write per line was a system call per cache hit, a tenth of its budget.
        self.flush_after_s = flush_after_s
        self._pending: list[str] = []

    def flush(self) -> None:
        """Write the lines held back (the server calls it on a timer and at shutdown)."""
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            # A closed or full log stream must never fail a request.
            with contextlib.suppress(OSError, ValueError):
                self.stream.write(text)
                self.stream.flush()

    def _stamps(self, now: float) -> None:
        second = int(now)
        if second != self._second:
            # strftime once a second, not once a request
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._local = time.strftime("%H:%M:%S", time.localtime(second))

    def write(self, fields: dict[str, Any]) -> None:
        """Write one access line: JSON, or a short readable line in development."""
        now = time.time()
        self._stamps(now)
        if self.json:
            line = f"{self._json_head(now)}{json_fields(fields)}}}"
        else:
            extra = " ".join(str(fields[k]) for k in ("cache", "code") if fields.get(k))
            # The decoded path may hold CR/LF (%0d%0a): escaped, it cannot forge a line.
            line = (f"{self._local} {fields['method']} {escape_controls(fields['path'])} "
                    f"{fields['status']} {fields['ms']}ms {extra}").rstrip()
        self._emit(line)

    def write_json(self, request_id: str, ms: float, fixed: JsonFields) -> None:
        """A JSON access line from a request's id and time and the rest already encoded: the
        same line `write` gives for the same fields."""
        now = time.time()
        self._stamps(now)
        head, tail = fixed
        self._emit(f'{self._json_head(now)}"request_id": {encode_basestring(request_id)}, '
                   f'{head}, "ms": {ms!r}, {tail}}}')

    def _json_head(self, now: float) -> str:
        """A JSON access line up to its fields (`_stamps` already called for `now`)."""
        return (f'{{"ts": "{self._stamp}.{int(now % 1 * 1000):03d}Z", "level": "info", '
                f'"logger": "picstream.access", ')

    def _emit(self, line: str) -> None:
        if self.flush_after_s > 0:
            if not self._pending:
                asyncio.get_running_loop().call_later(self.flush_after_s, self.flush)
            self._pending.append(line + "\n")
            return
        # A closed or full log stream must never fail a request.
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(line + "\n")
