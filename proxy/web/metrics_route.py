"""GET /metrics, and the glue that feeds proxy/metrics.py from requests and responses."""

from __future__ import annotations

import json
import re

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..metrics import BatchStats, Metrics, ServiceStats, TierStats
from .api_batch import API_STATE
from .keys import CACHE_TIER, METRICS, SERVICE, TEMPLATE_NAME

# Error codes of a failed image source (proxy/errors.py): counted as source errors too.
SOURCE_ERROR_CODES = frozenset({"bad_source", "upstream_failed"})
_TIMING = re.compile(r"^\s*(\w+);dur=([0-9.]+)")
_FALLBACK = re.compile(r"=(\w+)")
_MAX_ERROR_BODY_BYTES = 4096


def _route(request: web.Request) -> str:
    # The route pattern, never the path: one label value per route, whatever the URL.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


class RequestMetrics:
    """The app[METRICS] object: the middleware calls `observe_request` for every request."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def observe_request(self, request: web.Request, status: int, elapsed_ms: float) -> None:
        """Count one request by route and status and time it."""
        self.metrics.observe_request(_route(request), request.method, status,
                                     elapsed_ms / 1000, request.get(CACHE_TIER))

    async def on_response_prepare(self, request: web.Request,
                                  response: web.StreamResponse) -> None:
        """Render and fetch times from Server-Timing; error codes from the error body."""
        # The image handler already reports these to clients (Server-Timing, X-Fallback, the
        # JSON error); reading them here keeps the handlers free of metrics code.
        headers = response.headers
        template = request.get(TEMPLATE_NAME)
        if template is not None and headers.get("X-Cache") == "render":
            timings = {}
            for part in headers["Server-Timing"].split(","):
                match = _TIMING.match(part)
                if match:
                    timings[match[1]] = float(match[2]) / 1000
            if "render" in timings:
                fmt = headers.get("Content-Type", "").removeprefix("image/") or "unknown"
                self.metrics.observe_render(template, fmt, timings["render"],
                                            timings.get("fetch"))
        for reason in _FALLBACK.findall(headers.get("X-Fallback", "")):
            self.metrics.observe_source_error(reason)
        if response.status >= 400:
            code = _error_code(response)
            self.metrics.observe_error(code)
            if code in SOURCE_ERROR_CODES:
                self.metrics.observe_source_error(code)

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """GET /metrics: the Prometheus text exposition of this process's registry."""
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST,
                                                "Cache-Control": "no-store"})


def _error_code(response: web.StreamResponse) -> str:
    """The `code` of our JSON error body, or `http_<status>`."""
    body = getattr(response, "body", None)
    if isinstance(body, bytes) and len(body) <= _MAX_ERROR_BODY_BYTES:
        try:
            code = json.loads(body).get("code")
        except (ValueError, AttributeError):
            code = None
        if isinstance(code, str) and code.isidentifier():
            return code
    return f"http_{response.status}"


def service_stats(app: web.Application) -> ServiceStats | None:
    """Snapshot of the image service's caches and render gate, or None before startup."""
    service = app.get(SERVICE)
    if service is None:
        return None
    lru = service.lru
    tiers = {"memory": TierStats(hits=lru.hits, misses=lru.misses, evictions=lru.evictions,
                                 bytes_used=lru.bytes_used, max_bytes=lru.max_bytes,
                                 entries=len(lru))}
    disk = service.disk
    if disk is not None:
        tiers["disk"] = TierStats(hits=disk.hits, misses=disk.misses, evictions=disk.evictions,
                                  bytes_used=disk.bytes_used, max_bytes=disk.max_bytes,
                                  entries=len(disk))
    fallbacks = getattr(service.sources, "fallbacks_used", 0)
    batch = None
    api = app.get(API_STATE)
    if api is not None:
        kept = list(api.batches.values())
        batch = BatchStats(running=sum(not b.finished for b in kept),
                           items_total=sum(b.progress.total for b in kept),
                           items_done=sum(b.progress.done for b in kept),
                           items_failed=sum(b.progress.failed for b in kept))
    return ServiceStats(batch=batch, tiers=tiers, renders_in_flight=service.gate.in_flight,
                        render_queue_max=service.gate.max_queued,
                        renders_rejected=service.gate.rejected, renders_total=service.renders,
                        single_flight_keys=service.flight.in_flight,
                        fallbacks_total=int(fallbacks))


def setup_metrics(app: web.Application) -> None:
    """Create this app's registry, set app[METRICS] and serve it at GET /metrics."""
    metrics = RequestMetrics(Metrics(lambda: service_stats(app)))
    app[METRICS] = metrics
    app.on_response_prepare.append(metrics.on_response_prepare)
    app.router.add_get("/metrics", metrics.handle_metrics)
