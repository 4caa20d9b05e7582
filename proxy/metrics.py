"""Prometheus collectors of one app, on their own CollectorRegistry (never the global one).

Event metrics (requests, latencies, errors) are recorded as they happen. State that already
lives on the caches and the render gate (hit counters, bytes, queue depth) is read at scrape
time through `stats()`, so the hot path pays nothing for it and the numbers cannot drift.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
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
    """This host's share of the batches (each host reports its own when batches are in Redis)."""

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
            yield GaugeMetricFamily("picstream_batches_running",
                                    "Batch chunks this host is rendering now.",
                                    value=s.batch.running)
            items = GaugeMetricFamily("picstream_batch_items",
                                      "Batch items this host took, by state.", labels=["state"])
            items.add_metric(["total"], s.batch.items_total)
            items.add_metric(["done"], s.batch.items_done)
            items.add_metric(["failed"], s.batch.items_failed)
            yield items


# Methods get their own label value; anything else is "other" (a client picks the method).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _RequestTally(Collector):
    """Requests, their latency and images served, kept as plain ints, exposed at scrape time.

    prometheus_client's Counter.inc and Histogram.observe take a lock and a label lookup each
    (about 5 µs per hit for three series, a tenth of a hit's budget); every request is counted
    on the event loop's one thread, so plain dict and list updates are enough.
    """

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.latency: dict[str, list[float]] = {}   # route -> bucket counts + [sum]
        self.served: dict[tuple[str, str], int] = {}

    def add(self, route: str, method: str, status: int, elapsed_s: float, tier: str | None,
            template: str) -> None:
        key = (route, method if method in KNOWN_METHODS else "other", str(status), template)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.latency.get(route)
        if counts is None:
            counts = self.latency[route] = [0.0] * (len(REQUEST_BUCKETS_S) + 2)
        counts[bisect_left(REQUEST_BUCKETS_S, elapsed_s)] += 1
        counts[-1] += elapsed_s
        if tier is not None:
            self.served[(tier, template)] = self.served.get((tier, template), 0) + 1

    def collect(self) -> Iterable[Metric]:
        """The tallies as Prometheus families."""
        requests = CounterMetricFamily("picstream_http_requests",
                                       "HTTP requests by route, status and template.",
                                       labels=["route", "method", "status", "template"])
        for request_labels, count in self.requests.items():
            requests.add_metric(list(request_labels), count)
        latency = HistogramMetricFamily("picstream_http_request_duration_seconds",
                                        "Time from request to handler return, by route.",
                                        labels=["route"])
        for route, counts in self.latency.items():
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip((*REQUEST_BUCKETS_S, math.inf), counts, strict=False):
                cumulative += in_bucket
                buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
            latency.add_metric([route], buckets, sum_value=counts[-1])
        served = CounterMetricFamily("picstream_images_served",
                                     "Images answered, by where they came from (memory, disk, "
                                     "render, 304) and template.", labels=["tier", "template"])
        for served_labels, count in self.served.items():
            served.add_metric(list(served_labels), count)
        return [requests, latency, served]


class Metrics:
    """Every PicStream metric of one app and the registry they live on."""

    def __init__(self, stats: Callable[[], ServiceStats | None], *,
                 process: bool = True) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self._tally = _RequestTally()
        reg.register(self._tally)
        self.render_seconds = Histogram("picstream_render_duration_seconds",
                                        "Render time (pool, encode included) by template and "
                                        "format, whichever door asked.", ["template", "format"],
                                        buckets=RENDER_BUCKETS_S, registry=reg)
        self.fetch_seconds = Histogram("picstream_source_fetch_duration_seconds",
                                       "Time resolving image sources for a render, by "
                                       "template and format.", ["template", "format"],
                                       buckets=FETCH_BUCKETS_S, registry=reg)
        self.errors = Counter("picstream_errors", "Error responses by error code and template.",
                              ["code", "template"], registry=reg)
        self.source_errors = Counter("picstream_source_errors",
                                     "Failed image sources by reason (answered with an error "
                                     "or drawn from a fallback).", ["reason"], registry=reg)
        reg.register(_StateCollector(stats))
        if process:
            # RSS, CPU and open files of this process: what the soak test watches.
            ProcessCollector(registry=reg)

    def observe_request(self, route: str, method: str, status: int, elapsed_s: float,
                        tier: str | None, template: str | None = None) -> None:
        """One finished request (template: a template that exists, else "")."""
        self._tally.add(route, method, status, elapsed_s, tier, template or "")

    def observe_render(self, template: str, fmt: str, render_s: float,
                       fetch_s: float | None) -> None:
        """One render, and the source fetch before it if there was one."""
        self.render_seconds.labels(template, fmt).observe(render_s)
        if fetch_s is not None:
            self.fetch_seconds.labels(template, fmt).observe(fetch_s)

    def observe_error(self, code: str, template: str | None = None) -> None:
        """One error response."""
        self.errors.labels(code, template or "").inc()

    def observe_source_error(self, reason: str) -> None:
        """One image source that failed."""
        self.source_errors.labels(reason).inc()
