"""What one request did, as typed fields: handlers fill them in; headers, the access log and
metrics read them (nobody parses our own headers or bodies to recover them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RequestFacts:
    """Facts about one request; mutable only while that request is handled."""

    request_id: str
    template: str | None = None     # a template that exists (never an arbitrary URL part)
    tier: str | None = None         # memory, disk, render, 304 or redirect
    fmt: str | None = None          # the output format served
    render_ms: float | None = None  # a render done for this request
    fetch_ms: float | None = None   # its sources' fetch
    fallbacks: tuple[str, ...] = ()     # `variable=code` per image drawn from its fallback
    error_code: str | None = None

    def server_timing(self, total_ms: float) -> str:
        """The Server-Timing header: total, tier, and the render and fetch times of a miss."""
        if self.render_ms is None and not self.fetch_ms:   # a hit: one format, no list
            return f'total;dur={total_ms:.2f}, cache;desc="{self.tier}"'
        parts = [f"total;dur={total_ms:.2f}", f'cache;desc="{self.tier}"']
        if self.render_ms is not None:
            parts.append(f"render;dur={self.render_ms:.2f}")
        if self.fetch_ms:
            parts.append(f"fetch;dur={self.fetch_ms:.2f}")
        return ", ".join(parts)
