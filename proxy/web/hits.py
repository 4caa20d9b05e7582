"""Memory hits of known image URLs, answered before aiohttp routes the request.

A hit is most of a busy server's traffic and its answer is a dictionary lookup; aiohttp's
router and middleware chain around it cost about as much as the lookup itself (cProfile under
wrk: resolve, the middleware trampoline and `_handle` together ~25 µs of a ~115 µs hit). The
server's request handler is wrapped here: a GET or HEAD of a canonical URL the index knows is
answered at once, with the same headers, the same access line and the same metrics as through
the middleware (a keep-alive HTTP/1.1 GET as bytes, web/written.py); anything else goes the
usual way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from .images import IMAGE_ROUTE, memory_hit
from .middleware import RECORDER
from .written import WrittenHit

# The label the metrics give the image route when the router found it.
_ROUTE_LABEL = web.DynamicResource(IMAGE_ROUTE).canonical

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def hits_first(app: web.Application, handler: Handler) -> Handler:
    """`handler` (the application's) with known memory hits answered before it."""
    recorder = app[RECORDER]

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD") or not request.raw_path.startswith("/i/"):
            return await handler(request)
        started = time.perf_counter()
        facts = recorder.start(request)
        try:
            response = memory_hit(request, app, facts, started, written=True)
        except Exception:
            response = None    # the full path answers (and maps) whatever went wrong here
        if response is None:
            return await handler(request)     # its middleware starts the request's facts anew
        size: int | None
        if isinstance(response, WrittenHit):
            size = len(response.data)         # its head holds the request id already
        else:
            response.headers["X-Request-Id"] = facts.request_id
            # A GET's body is the cached bytes: their length is the response's, without the
            # content_length property's header lookup and ABC isinstance (0.4 µs a hit).
            body = response.body if isinstance(response, web.Response) else None
            size = len(body) if isinstance(body, bytes) else response.content_length
        recorder.finish(request, facts, response.status, size,
                        (time.perf_counter() - started) * 1000, route=_ROUTE_LABEL)
        return response

    return handle
