"""ImageService: spec -> cached or freshly rendered image, through every cache tier.

The GET handler, `POST /v1/render` and batch prerendering share it, so a URL minted by the
API is a cache hit when an `<img>` asks for it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import formats
from ..cache import BoundedDict, ByteLRU, CachedImage, DiskCache, SingleFlight
from ..config import Settings
from ..errors import RenderTimeout
from ..render import OutputLimits, RenderJob, RenderMemo, render
from ..render.context import TextFit
from ..sources.resolve import SourceResolver
from ..spec import RenderSpec
from ..template.model import Template
from ..template.values import Values
from .freshness import drawn_etag
from .gate import RenderGate
from .http import cache_key


def explain_json(fits: Sequence[TextFit]) -> str:
    """Text-fit facts as compact JSON for the `X-Explain` header (ASCII only)."""
    return json.dumps([{"layer": f.layer_index,
                        "size": int(f.size) if f.size.is_integer() else round(f.size, 2),
                        "lines": f.lines, "cut": f.cut, **({"part": f.part} if f.part else {})}
                       for f in fits], separators=(",", ":"))


class RenderObserver(Protocol):
    """Told about every render, whichever door asked for it (web/metrics_route.py)."""

    def observe_render(self, template: str, fmt: str, render_ms: float,
                       fetch_ms: float | None, fallbacks: tuple[str, ...]) -> None:
        """Record one render."""


@dataclass(frozen=True)
class Served:
    """An image and where it came from: `memory`, `disk` or `render`."""

    image: CachedImage
    tier: str
    fetch_ms: float = 0.0


@dataclass
class ImageService:
    """Owns the render pool and caches; one per app."""

    settings: Settings
    memo: RenderMemo
    lru: ByteLRU
    disk: DiskCache | None
    flight: SingleFlight[str, CachedImage]
    pool: ThreadPoolExecutor
    gate: RenderGate
    sources: SourceResolver | None = None   # None renders without remote images
    observer: RenderObserver | None = None
    renders: int = 0
    # canonical URL (+ Accept bucket for `auto`) -> KnownURL of web/images.py; bounded by count
    known_urls: BoundedDict[str, Any] = field(default_factory=lambda: BoundedDict(100_000))

    def key_for(self, spec: RenderSpec, template: Template, fmt: str) -> str:
        """Cache key for this spec rendered with this template version and format."""
        return cache_key(spec.canonical(), template.version, fmt)

    async def get(self, spec: RenderSpec, template: Template, values: Values, fmt: str) -> Served:
        """The image for `spec`: memory hit, else single-flight (disk, then render)."""
        key = self.key_for(spec, template, fmt)
        hit = self.lru.get(key)
        if hit is not None:
            return Served(hit, "memory")
        tier = "render"
        fetch_ms = 0.0

        async def produce() -> CachedImage:
            nonlocal tier, fetch_ms
            loop = asyncio.get_running_loop()
            if self.disk is not None:
                found = await loop.run_in_executor(None, self.disk.get, key)
                if found is not None:
                    tier = "disk"
                    self.lru.put(key, found)
                    return found
            image, fetch_ms = await self._render(spec, template, values, fmt, key)
            if image.fallback_reason is None:
                # A fallback render is not cached: the short max-age exists so it is retried.
                self.lru.put(key, image)
                if self.disk is not None:
                    await loop.run_in_executor(None, self.disk.put, key, image)
            return image

        image = await self.flight.run(key, produce)
        return Served(image, tier, fetch_ms)

    async def _render(self, spec: RenderSpec, template: Template, values: Values, fmt: str,
                      key: str) -> tuple[CachedImage, float]:
        self.gate.check()  # refuse early when full, before spending a fetch
        images: dict[str, bytes] = {}
        fallback_reason: str | None = None
        fetch_ms = 0.0
        if self.sources is not None:
            # Fetching happens outside the render slot: a slow source host holds neither a
            # slot nor a pool thread, only this coroutine (bounded by the fetch timeout).
            resolved = await self.sources.resolve(template, values)
            images, fetch_ms = resolved.images, resolved.fetch_ms
            fallback_reason = resolved.fallback_reason
        limits = self.settings.limits
        job = RenderJob(template=template, values=values, output=spec.output_options(fmt),
                        images=images,
                        limits=OutputLimits(limits.max_output_side, limits.max_output_pixels),
                        deadline=time.monotonic() + limits.render_timeout_s,
                        explain=spec.debug)
        loop = asyncio.get_running_loop()
        # The place in the gate is held until the thread ends, even when this request stops
        # waiting: the deadline inside the job stops libvips work in progress (see
        # render/deadline.py); the wait below is only a backstop for work it cannot stop.
        future = self.gate.admit(lambda: loop.run_in_executor(self.pool, render, job, self.memo))
        try:
            rendered = await asyncio.wait_for(asyncio.shield(future),
                                              limits.render_timeout_s + 1)
        except TimeoutError:
            raise RenderTimeout("render took too long") from None
        self.renders += 1
        fallback_reason = fallback_reason or rendered.fallback_reason
        if self.observer is not None:
            self.observer.observe_render(
                template.name, fmt, rendered.render_ms,
                fetch_ms if self.sources is not None and fetch_ms else None,
                tuple(fallback_reason.split(", ")) if fallback_reason else ())
        return CachedImage(data=rendered.data, content_type=formats.get(fmt).content_type,
                           width=rendered.width, height=rendered.height,
                           etag=drawn_etag(key, fallback_reason),
                           render_ms=rendered.render_ms, fallback_reason=fallback_reason,
                           explain=explain_json(rendered.fits) if spec.debug else None,
                           ), fetch_ms
