"""Prometheus collectors of one app, on their own CollectorRegistry (never the global one).

Event metrics (requests, latencies, errors) are recorded as they happen. State that already
lives on the caches and the render gate (hit counters, bytes, queue depth) is read at scrape
time through `stats()`, so the hot path pays nothing for it and the numbers cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Hits take well under a millisecond and renders tens of milliseconds; the buckets cover
# both ends and the render deadline (limits.render_timeout_s, 10 s by default).
REQUEST_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0, 30.0)
RENDER_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)
FETCH_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class TierStats:
    """Counters and size of one cache tier at scrape time."""

    hits: int
    misses: int
    evictions: int
    bytes_used: int
    max_bytes: int
    entries: int


@dataclass(frozen=True)
class BatchStats:
    """Progress of the batches the API knows about."""

    running: int
    items_total: int
    items_done: int
    items_failed: int


@dataclass(frozen=True)
class ServiceStats:
    """What the scrape reads from the running service."""

    tiers: dict[str, TierStats] = field(default_factory=dict)
    renders_in_flight: int = 0
    render_queue_max: int = 0
    renders_rejected: int = 0
    renders_total: int = 0
    single_flight_keys: int = 0
    fallbacks_total: int = 0
    batch: BatchStats | None = None


class _StateCollector(Collector):
    """Turns a ServiceStats snapshot into metric families at scrape time."""

    def __init__(self, stats: Callable[[], ServiceStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        """The current cache, render gate and batch state."""
        stats = self._stats()
        if stats is None:       # before startup finished or after cleanup
            return []
        return list(self._families(stats))

    def _families(self, s: ServiceStats) -> Iterator[Metric]:
        per_tier = (
            ("picstream_cache_hits", "Cache lookups answered by the tier.", "hits", True),
            ("picstream_cache_misses", "Cache lookups the tier could not answer.", "misses",
             True),
            ("picstream_cache_evictions", "Entries dropped to stay under the tier's bound.",
             "evictions", True),
            ("picstream_cache_bytes", "Bytes held by the tier.", "bytes_used", False),
            ("picstream_cache_max_bytes", "Configured bound of the tier.", "max_bytes", False),
            ("picstream_cache_entries", "Entries held by the tier.", "entries", False),
        )
        for name, doc, attr, is_counter in per_tier:
            family: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(name, doc, labels=["tier"]) if is_counter
                else GaugeMetricFamily(name, doc, labels=["tier"]))
            for tier, values in s.tiers.items():
                family.add_metric([tier], getattr(values, attr))
            yield family
        yield GaugeMetricFamily("picstream_renders_in_flight",
                                "Renders waiting for or holding a render slot.",
                                value=s.renders_in_flight)
        yield GaugeMetricFamily("picstream_render_queue_max",
                                "Renders allowed in flight before misses get 503.",
                                value=s.render_queue_max)
        yield CounterMetricFamily("picstream_renders_rejected",
                                  "Misses answered 503 because the render queue was full.",
                                  value=s.renders_rejected)
        yield CounterMetricFamily("picstream_renders", "Renders completed.",
                                  value=s.renders_total)
        yield GaugeMetricFamily("picstream_single_flight_keys",
                                "Cache keys being produced now (concurrent misses share one).",
                                value=s.single_flight_keys)
        yield CounterMetricFamily("picstream_source_fallbacks",
                                  "Image variables drawn from their fallback after a failed "
                                  "source.", value=s.fallbacks_total)
        if s.batch is not None:
            yield GaugeMetricFamily("picstream_batches_running", "Batches in progress.",
                                    value=s.batch.running)
            items = GaugeMetricFamily("picstream_batch_items",
                                      "Items of known batches by state.", labels=["state"])
            items.add_metric(["total"], s.batch.items_total)
            items.add_metric(["done"], s.batch.items_done)
            items.add_metric(["failed"], s.batch.items_failed)
            yield items


class Metrics:
    """Every PicStream metric of one app and the registry they live on."""

    def __init__(self, stats: Callable[[], ServiceStats | None], *,
                 process: bool = True) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter("picstream_http_requests", "HTTP requests by route and status.",
                                ["route", "method", "status"], registry=reg)
        self.request_seconds = Histogram("picstream_http_request_duration_seconds",
                                         "Time from request to handler return, by route.",
                                         ["route"], buckets=REQUEST_BUCKETS_S, registry=reg)
        self.served = Counter("picstream_images_served",
                              "Images answered, by where they came from: memory, disk, "
                              "render, or 304.", ["tier"], registry=reg)
        self.render_seconds = Histogram("picstream_render_duration_seconds",
                                        "Render time of a miss (pool, encode included), by "
                                        "template and format.", ["template", "format"],
                                        buckets=RENDER_BUCKETS_S, registry=reg)
        self.fetch_seconds = Histogram("picstream_source_fetch_duration_seconds",
                                       "Time resolving image sources for a render, by "
                                       "template and format.", ["template", "format"],
                                       buckets=FETCH_BUCKETS_S, registry=reg)
        self.errors = Counter("picstream_errors", "Error responses by error code.", ["code"],
                              registry=reg)
        self.source_errors = Counter("picstream_source_errors",
                                     "Failed image sources by reason (answered with an error "
                                     "or drawn from a fallback).", ["reason"], registry=reg)
        self._children: dict[tuple[str, str, int, str | None], tuple[Any, Any, Any]] = {}
        reg.register(_StateCollector(stats))
        if process:
            # RSS, CPU and open files of this process: what the soak test watches.
            ProcessCollector(registry=reg)

    def observe_request(self, route: str, method: str, status: int, elapsed_s: float,
                        tier: str | None) -> None:
        """One finished request."""
        # labels() validates and hashes on every call (about 4 µs each, three per request on
        # the hit path); the children for a label set are kept after the first request.
        key = (route, method, status, tier)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(route, method, str(status)),
                        self.request_seconds.labels(route),
                        self.served.labels(tier) if tier is not None else None)
            if len(self._children) < 10_000:
                self._children[key] = children
        requests, seconds, served = children
        requests.inc()
        seconds.observe(elapsed_s)
        if served is not None:
            served.inc()

    def observe_render(self, template: str, fmt: str, render_s: float,
                       fetch_s: float | None) -> None:
        """One render of a miss, and the source fetch before it if there was one."""
        self.render_seconds.labels(template, fmt).observe(render_s)
        if fetch_s is not None:
            self.fetch_seconds.labels(template, fmt).observe(fetch_s)

    def observe_error(self, code: str) -> None:
        """One error response."""
        self.errors.labels(code).inc()

    def observe_source_error(self, reason: str) -> None:
        """One image source that failed."""
        self.source_errors.labels(reason).inc()
