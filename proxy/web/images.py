"""GET/HEAD /i/{sig}/{template}.{fmt}: parse, verify, negotiate, serve from cache or render."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from ..cache import CachedImage
from ..errors import BadRequest, InvalidValue, URITooLong
from ..spec import parse_request
from ..template.colors import parse_color
from ..template.refs import has_refs
from ..template.values import coerce
from ..urls import check_expiry, verify_raw, yarl_spelling
from .freshness import Lifetime, cache_control, etag, is_not_modified
from .http import negotiate_format
from .keys import CACHE_TIER, REGISTRY, SERVICE, SETTINGS, TEMPLATE_NAME
from .service import ImageService


def _fallback_format(template_background: str) -> str:
    """PNG keeps a transparent background; everything else falls back to JPEG for `auto`."""
    if has_refs(template_background):
        return "png"
    return "jpeg" if parse_color(template_background)[3] == 255 else "png"


@dataclass(frozen=True)
class KnownURL:
    """What a verified URL resolved to, so its next GET skips parsing and the HMAC."""

    cache_key: str
    template: str
    version: str
    lifetime: Lifetime
    headers: dict[str, str]


def _respond(request: web.Request, image: CachedImage, headers: dict[str, str], tier: str,
             timing: list[str]) -> web.Response:
    headers = {**headers, "Server-Timing": ", ".join(timing), "X-Cache": tier,
               "Content-Type": image.content_type, "X-Content-Type-Options": "nosniff"}
    request[CACHE_TIER] = tier
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(image.data))
        return web.Response(status=200, headers=headers)
    return web.Response(body=image.data, headers=headers)


def _fast_path(request: web.Request, service: ImageService) -> web.Response | None:
    """A memory hit for a URL verified before: identical raw bytes verify identically.

    Measured: the full path (parse, HMAC, coerce, keys) is most of a hit's cost in Python;
    this keeps hits near the ceiling of a fixed-body aiohttp server. The template version and
    the expiry are re-checked, so an edited template or an expired link still takes the full
    path.
    """
    started = time.perf_counter()
    key = request.raw_path
    if request.match_info["fmt"] == "auto":
        key += "\n" + negotiate_format(request.headers.get("Accept", ""), "?")
    known = service.known_urls.get(key)
    if known is None:
        return None
    expires = known.lifetime.expires
    headers = known.headers
    if expires is not None:
        now = time.time()
        if now >= expires:
            return None
        # The lifetime shrinks as `exp` nears (web/freshness.py).
        headers = {**headers, "Cache-Control": cache_control(known.lifetime,
                                                             service.settings.cache, now)}
    if request.app[REGISTRY].get(known.template).version != known.version:
        return None
    request[TEMPLATE_NAME] = known.template
    if is_not_modified(request.headers.get("If-None-Match"), headers["ETag"]):
        request[CACHE_TIER] = "304"
        return web.Response(status=304, headers=headers)
    image = service.lru.get(known.cache_key)
    if image is None:
        return None
    total_ms = (time.perf_counter() - started) * 1000
    return _respond(request, image, headers, "memory",
                    [f"total;dur={total_ms:.2f}", 'cache;desc="memory"'])


async def handle_image(request: web.Request) -> web.StreamResponse:
    """Serve one signed image URL."""
    app = request.app
    fast = _fast_path(request, app[SERVICE])
    if fast is not None:
        return fast
    started = time.perf_counter()
    settings = app[SETTINGS]
    info = request.match_info
    url_bytes = len(request.raw_path.encode("utf-8"))
    if url_bytes > settings.limits.max_url_bytes:
        raise URITooLong(f"URL longer than {settings.limits.max_url_bytes} bytes")
    pairs = list(request.query.items())
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        # Which copy would win differs between parsers (a CDN, aiohttp): refuse both.
        raise BadRequest("duplicate parameter")
    canonical_path = verify_raw(info["sig"], info["template"], info["fmt"], pairs,
                                settings.signing.keys, allow_unsafe=settings.signing.allow_unsafe)
    canonical = request.raw_path == canonical_path
    if not canonical and request.raw_path != yarl_spelling(canonical_path):
        # One image has one URL: any other spelling of a signed URL (`+` for %20, reordered
        # pairs, %59 for Y, an encoded `-`) is sent to the canonical one, never answered as a
        # second cacheable 200 that nginx, a CDN and the known-URL index would each keep.
        request[CACHE_TIER] = "redirect"
        return web.Response(status=301, headers={"Location": canonical_path,
                                                 "Cache-Control": "no-store"})
    spec = parse_request(info["template"], info["fmt"], pairs, url_bytes, settings.limits)
    now = time.time()
    check_expiry(spec, now=now)
    template = app[REGISTRY].get(spec.template)
    fmt = spec.fixed_format or negotiate_format(request.headers.get("Accept", ""),
                                                _fallback_format(template.background))
    if fmt not in template.formats:
        raise InvalidValue(f"fmt: template {template.name} is not offered as {fmt}", field="fmt")
    values = coerce(template, dict(spec.variables))
    service = app[SERVICE]
    key = service.key_for(spec, template, fmt)
    # Before rendering, only the real image's validators are known: a 304 confirms only it.
    lifetime = Lifetime(pinned_current=spec.version == template.version, expires=spec.expires)
    headers = {
        "ETag": etag(key),
        "Cache-Control": cache_control(lifetime, settings.cache, now),
        # Lets a CDN purge every image of a template (Fastly Surrogate-Key, Cloudflare Cache-Tag).
        "Surrogate-Key": f"tpl-{template.name} tpl-{template.name}-{template.version}",
        "Cache-Tag": f"tpl-{template.name},tpl-{template.name}-{template.version}",
        "X-Template-Version": template.version,
    }
    if spec.fixed_format is None:
        headers["Vary"] = "Accept"
    request[TEMPLATE_NAME] = template.name
    if_none_match = request.headers.get("If-None-Match")
    if is_not_modified(if_none_match, headers["ETag"]):
        request[CACHE_TIER] = "304"
        return web.Response(status=304, headers=headers)
    served = await service.get(spec, template, values, fmt)
    image = served.image
    if image.fallback_reason is None and not spec.debug and canonical:
        known_key = request.raw_path
        if spec.fixed_format is None:
            known_key += "\n" + negotiate_format(request.headers.get("Accept", ""), "?")
        service.known_urls[known_key] = KnownURL(key, template.name, template.version,
                                                 lifetime, headers)
    if image.fallback_reason is not None:
        # What was drawn decides: the fallback's own tag and short life.
        drawn = Lifetime(pinned_current=False, expires=spec.expires, fallback=True)
        headers = {**headers, "ETag": image.etag, "X-Fallback": image.fallback_reason,
                   "Cache-Control": cache_control(drawn, settings.cache, time.time())}
        if is_not_modified(if_none_match, image.etag):
            request[CACHE_TIER] = "304"
            return web.Response(status=304, headers=headers)
    if spec.debug and image.explain is not None:
        # Only signed debug URLs carry it: the fits are the author's business, not a visitor's.
        headers["X-Explain"] = image.explain
    total_ms = (time.perf_counter() - started) * 1000
    timing = [f"total;dur={total_ms:.2f}", f'cache;desc="{served.tier}"']
    if served.tier == "render":
        timing.append(f"render;dur={image.render_ms:.2f}")
        if served.fetch_ms:
            timing.append(f"fetch;dur={served.fetch_ms:.2f}")
    return _respond(request, image, headers, served.tier, timing)
