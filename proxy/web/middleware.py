"""Request id, timing and access log; ProxyError -> response (the only place that maps it)."""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..errors import ProxyError, QuotaExceeded
from ..logs import AccessLog, JsonFields, json_fields
from .facts import RequestFacts
from .keys import ACCESS_LOG, FACTS, METRICS, RequestObserver

log = logging.getLogger("picstream.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
errlog = logging.getLogger("picstream.error")
# Encoded access fields kept by the recorder: a request target is at most aiohttp's 8 KiB
# line, so at most about 2 MiB.
ENCODED_LINES = 256
# Error bodies echo nothing of the request, but a browser must not sniff them as HTML either.
_NOSNIFF = {"X-Content-Type-Options": "nosniff"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: ProxyError) -> web.Response:
    """A short JSON reason, never cached; 503s say when to retry."""
    headers = {"Cache-Control": "no-store", **_NOSNIFF}
    if error.status == 503:
        headers["Retry-After"] = "1"
    elif isinstance(error, QuotaExceeded) and error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    return web.Response(status=error.status, text=json.dumps(error.to_json()),
                        content_type="application/json", headers=headers)


def _loggable_path(request: web.BaseRequest) -> str:
    # Signatures are bearer capabilities: keep them out of logs.
    path = request.path
    if path.startswith("/i/"):
        parts = path.split("/", 3)
        if len(parts) == 4:
            path = f"/i/-/{parts[3]}"
    return path[:512]


class RequestRecorder:
    """Request ids, and the one access line and metrics record of each finished request.

    Shared by the middleware and the hit handler that answers before routing (web/hits.py),
    so a hit is logged and counted exactly like any other request.
    """

    def __init__(self) -> None:
        # Request ids: a random prefix per app and a counter, unique within the process's life
        # without a urandom call per request (the hit path's budget is tens of microseconds).
        self.prefix = secrets.token_hex(5)
        self.counter = itertools.count(1)
        self._encoded: dict[tuple[object, ...], JsonFields] = {}
        self._metrics: RequestObserver | None = None
        self._access: AccessLog | None = None

    async def bind(self, app: web.Application) -> None:
        """Take the app's metrics and access log (an on_startup hook: from startup on the
        app's state is frozen, and two lookups a request were a tenth of a hit's Python)."""
        self._metrics = app.get(METRICS)
        self._access = app.get(ACCESS_LOG)

    def start(self, request: web.BaseRequest) -> RequestFacts:
        """The request's facts, with its id: a caller's id is kept (tracing through nginx and
        the CDN) only when it is a plain token."""
        given = request.headers.get("X-Request-Id", "")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else (
            f"{self.prefix}{next(self.counter):06x}")
        return RequestFacts(request_id)

    def finish(self, request: web.BaseRequest, facts: RequestFacts, status: int,
               size: int | None, elapsed_ms: float, route: str | None = None) -> None:
        """Count the request and write its access line."""
        metrics = self._metrics
        if metrics is not None:
            metrics.observe_request(request, status, elapsed_ms, facts, route)
        access = self._access
        if access is not None and access.json:
            access.write_json(facts.request_id, round(elapsed_ms, 2),
                              self._fixed_fields(request, facts, status, size))
            return
        fields = self._fields(request, facts, status, size, round(elapsed_ms, 2))
        if access is not None:
            access.write(fields)
        else:
            log.info("request", extra={"fields": fields})

    @staticmethod
    def _fields(request: web.BaseRequest, facts: RequestFacts, status: int, size: int | None,
                ms: float) -> dict[str, object]:
        return {"request_id": facts.request_id, "method": request.method,
                "path": _loggable_path(request), "status": status, "bytes": size, "ms": ms,
                "code": facts.error_code, "cache": facts.tier, "template": facts.template}

    def _fixed_fields(self, request: web.BaseRequest, facts: RequestFacts, status: int,
                      size: int | None) -> JsonFields:
        """`_fields` but the id and the time, encoded, kept per request target and outcome:
        every hit of a known URL has the same ones, and encoding them field by field (and
        decoding the path to redact it) was a third of a memory hit's own Python (py-spy
        under wrk)."""
        key = (request.method, request.raw_path, status, size, facts.error_code, facts.tier,
               facts.template)
        fixed = self._encoded.get(key)
        if fixed is None:
            fields = self._fields(request, facts, status, size, 0.0)
            names = list(fields)
            middle = names.index("ms")
            head = {name: fields[name] for name in names[1:middle]}
            tail = {name: fields[name] for name in names[middle + 1:]}
            if len(self._encoded) >= ENCODED_LINES:
                self._encoded.clear()   # unique URLs (misses) must not grow it
            fixed = self._encoded[key] = (json_fields(head), json_fields(tail))
        return fixed


# Here rather than in keys.py, which this module imports from.
RECORDER = web.AppKey("recorder", RequestRecorder)


def errors_and_access_log(recorder: RequestRecorder) -> Middleware:
    """Give each request an id and its facts, map errors to responses, log one line each."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        facts = request[FACTS] = recorder.start(request)   # the handlers fill them in
        request_id = facts.request_id
        started = time.perf_counter()
        status = 500
        size: int | None = None
        try:
            try:
                response = await handler(request)
            except ProxyError as exc:
                facts.error_code = exc.code
                if exc.detail:
                    errlog.info("request %s: %s: %s", request_id, exc.code, exc.detail)
                response = error_response(exc)
            except web.HTTPException as exc:
                response = exc
                if exc.status >= 400:
                    facts.error_code = f"http_{exc.status}"
                    if exc.content_type != "application/json":
                        body = {"ok": False, "status": exc.status, "code": "http_error",
                                "error": exc.reason}
                        headers = {"Cache-Control": "no-store", **_NOSNIFF}
                        if "Allow" in exc.headers:  # a 405 says what is allowed (RFC 9110)
                            headers["Allow"] = exc.headers["Allow"]
                        response = web.Response(status=exc.status, text=json.dumps(body),
                                                content_type="application/json",
                                                headers=headers)
            except Exception:
                errlog.exception("request %s failed", request_id)
                facts.error_code = "internal"
                response = error_response(ProxyError("internal error"))
            status = response.status
            size = response.content_length
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            recorder.finish(request, facts, status, size,
                            (time.perf_counter() - started) * 1000)

    return middleware
