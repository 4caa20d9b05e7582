"""Image variables -> source bytes: remote URL (guarded fetch), asset:ID, with fallbacks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import BadSource, NotFound, Overloaded, ProxyError
from ..template.model import Template, Variable
from ..template.values import Values
from .assets import AssetBackend, AssetStore
from .fetch import RASTER_FORMATS, Fetcher


@dataclass(frozen=True)
class ResolvedSources:
    """Bytes by image key, total fetch time, and why a fallback was used (if one was)."""

    images: dict[str, bytes]
    fetch_ms: float = 0.0
    fallback_reason: str | None = None


class SourceResolver:
    """Resolves every image variable of a render concurrently."""

    def __init__(self, settings: Settings, fetcher: Fetcher, assets: AssetBackend) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.assets = assets
        self.fallbacks_used = 0

    async def _one(self, var: Variable, ref: str) -> bytes:
        allowed = set(RASTER_FORMATS) | ({"svg"} if var.allow_svg else set())
        if ref.startswith("asset:"):
            loop = asyncio.get_running_loop()
            try:
                data = await loop.run_in_executor(None, self.assets.get, ref[6:])
            except NotFound:
                raise BadSource(f"{var.name}: no such asset", field=var.name) from None
            fmt = await self.fetcher.check(data, allowed)
        else:
            # The fetcher checked the header once, off the loop, and caches the result with
            # its format: a render of a cached source parses no header again.
            fetched = await self.fetcher.fetch(ref)
            data, fmt = fetched.data, fetched.fmt
        if fmt == "svg" and not var.allow_svg:
            raise BadSource(f"{var.name}: SVG is not allowed here", field=var.name)
        return data

    async def resolve(self, template: Template, values: Values) -> ResolvedSources:
        """Fetch what the drawn image layers need; a failed source uses its fallback."""
        started = time.perf_counter()
        wanted: dict[str, Variable] = {}
        for name, var in template.variables.items():
            ref = values.display(name) if var.type == "image" else ""
            if ref and ref not in wanted:
                wanted[ref] = var
        if not wanted:
            return ResolvedSources({})
        refs = list(wanted)
        results = await asyncio.gather(*(self._one(wanted[r], r) for r in refs),
                                       return_exceptions=True)
        images: dict[str, bytes] = {}
        reasons: list[str] = []
        for ref, result in zip(refs, results, strict=True):
            var = wanted[ref]
            if isinstance(result, bytes):
                images[ref] = result
                continue
            if not isinstance(result, ProxyError) or isinstance(result, Overloaded):
                raise result  # a busy server is not the source's fault: 503, retried
            if var.fallback is None:
                raise result
            # Per layer: this image falls back, the rest of the render is the real one.
            images[ref] = template.files[var.fallback]
            reasons.append(f"{var.name}={result.code}")
            self.fallbacks_used += 1
        fetch_ms = (time.perf_counter() - started) * 1000
        return ResolvedSources(images, fetch_ms, ", ".join(reasons) or None)


def resolve_offline(settings: Settings, template: Template, values: Values) -> dict[str, bytes]:
    """For the CLI: resolve sources with a short-lived fetcher."""
    if not any(values.display(n) for n, v in template.variables.items() if v.type == "image"):
        return {}

    async def run() -> dict[str, bytes]:
        async with Fetcher(settings.sources) as fetcher:
            store = AssetStore(Path(settings.sources.data_dir) / "assets")
            resolved = await SourceResolver(settings, fetcher, store).resolve(template, values)
            return resolved.images

    return asyncio.run(run())
