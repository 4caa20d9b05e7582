"""GET /metrics, and the glue that feeds proxy/metrics.py from requests and responses."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..metrics import BatchStats, Metrics, ServiceStats, TierStats
from .api_batch import BATCHES
from .facts import RequestFacts
from .keys import METRICS, SERVICE, SETTINGS
from .trust import require_operator

# Error codes of a failed image source (proxy/errors.py): counted as source errors too.
SOURCE_ERROR_CODES = frozenset({"bad_source", "upstream_failed"})


def _route(request: web.Request) -> str:
    # The route pattern, never the path: one label value per route, whatever the URL.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


class RequestMetrics:
    """The app[METRICS] object: the middleware and the image service report to it."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def observe_request(self, request: web.BaseRequest, status: int, elapsed_ms: float,
                        facts: RequestFacts, route: str | None = None) -> None:
        """Count one request by route (found from the request when not given), status and
        template, and time it."""
        if route is None:
            assert isinstance(request, web.Request)   # routed: the middleware's requests
            route = _route(request)
        self.metrics.observe_request(route, request.method, status,
                                     elapsed_ms / 1000, facts.tier, facts.template)
        if facts.error_code is not None:
            self.metrics.observe_error(facts.error_code, facts.template)
            if facts.error_code in SOURCE_ERROR_CODES:
                self.metrics.observe_source_error(facts.error_code)

    def observe_render(self, template: str, fmt: str, render_ms: float,
                       fetch_ms: float | None, fallbacks: tuple[str, ...]) -> None:
        """One render by the image service, whichever door asked for it."""
        self.metrics.observe_render(template, fmt, render_ms / 1000,
                                    None if fetch_ms is None else fetch_ms / 1000)
        for fallback in fallbacks:
            self.metrics.observe_source_error(fallback.rpartition("=")[2])

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """GET /metrics: the Prometheus text exposition of this process's registry."""
        require_operator(request, request.app[SETTINGS].server.metrics_token)
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST,
                                                "Cache-Control": "no-store"})


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
    batches = app.get(BATCHES)
    if batches is not None:
        # This host's share of the batches (with Redis, each host reports its own).
        worker = batches.worker
        batch = BatchStats(running=worker.chunks_in_flight, items_total=worker.items_taken,
                           items_done=worker.items_done, items_failed=worker.items_failed)
    return ServiceStats(batch=batch, tiers=tiers, renders_in_flight=service.gate.in_flight,
                        render_queue_max=service.gate.max_queued,
                        renders_rejected=service.gate.rejected, renders_total=service.renders,
                        single_flight_keys=service.flight.in_flight,
                        fallbacks_total=int(fallbacks))


def setup_metrics(app: web.Application) -> None:
    """Create this app's registry, set app[METRICS] and serve it at GET /metrics."""
    metrics = RequestMetrics(Metrics(lambda: service_stats(app)))
    app[METRICS] = metrics
    app.router.add_get("/metrics", metrics.handle_metrics)
