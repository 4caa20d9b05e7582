"""GET/HEAD /i/{sig}/{template}.{fmt}: parse, verify, negotiate, serve from cache or render."""

from __future__ import annotations

import time

from aiohttp import web

from ..errors import BadRequest, InvalidValue, URITooLong
from ..spec import parse_request
from ..template.colors import parse_color
from ..template.refs import has_refs
from ..template.values import coerce
from ..urls import check_expiry, verify_raw
from .http import cache_control, etag, is_not_modified, negotiate_format
from .keys import CACHE_TIER, REGISTRY, SETTINGS, TEMPLATE_NAME
from .service import ImageService

SERVICE = web.AppKey("image_service", ImageService)


def _fallback_format(template_background: str) -> str:
    """PNG keeps a transparent background; everything else falls back to JPEG for `auto`."""
    if has_refs(template_background):
        return "png"
    return "jpeg" if parse_color(template_background)[3] == 255 else "png"


async def handle_image(request: web.Request) -> web.StreamResponse:
    """Serve one signed image URL."""
    started = time.perf_counter()
    app = request.app
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
    verify_raw(info["sig"], info["template"], info["fmt"], pairs, settings.signing.keys,
               allow_unsafe=settings.signing.allow_unsafe)
    spec = parse_request(info["template"], info["fmt"], pairs, url_bytes, settings.limits)
    check_expiry(spec, now=time.time())
    template = app[REGISTRY].get(spec.template)
    fmt = spec.fixed_format or negotiate_format(request.headers.get("Accept", ""),
                                                _fallback_format(template.background))
    if fmt not in template.formats:
        raise InvalidValue(f"fmt: template {template.name} is not offered as {fmt}", field="fmt")
    values = coerce(template, dict(spec.variables))
    service = app[SERVICE]
    key = service.key_for(spec, template, fmt)
    tag = etag(key)
    pinned_current = spec.version == template.version
    headers = {
        "ETag": tag,
        "Cache-Control": cache_control(pinned_current=pinned_current, fallback=False,
                                       cache=settings.cache),
        # Lets a CDN purge every image of a template (Fastly Surrogate-Key, Cloudflare Cache-Tag).
        "Surrogate-Key": f"tpl-{template.name} tpl-{template.name}-{template.version}",
        "Cache-Tag": f"tpl-{template.name},tpl-{template.name}-{template.version}",
        "X-Template-Version": template.version,
    }
    if spec.fixed_format is None:
        headers["Vary"] = "Accept"
    request[TEMPLATE_NAME] = template.name
    if is_not_modified(request.headers.get("If-None-Match"), tag):
        request[CACHE_TIER] = "304"
        return web.Response(status=304, headers=headers)
    served = await service.get(spec, template, values, fmt)
    image = served.image
    request[CACHE_TIER] = served.tier
    if image.fallback_reason is not None:
        headers["Cache-Control"] = cache_control(pinned_current=False, fallback=True,
                                                 cache=settings.cache)
        headers["X-Fallback"] = image.fallback_reason
    if spec.debug and image.explain is not None:
        # Only signed debug URLs carry it: the fits are the author's business, not a visitor's.
        headers["X-Explain"] = image.explain
    total_ms = (time.perf_counter() - started) * 1000
    timing = [f"total;dur={total_ms:.2f}", f'cache;desc="{served.tier}"']
    if served.tier == "render":
        timing.append(f"render;dur={image.render_ms:.2f}")
        if served.fetch_ms:
            timing.append(f"fetch;dur={served.fetch_ms:.2f}")
    headers["Server-Timing"] = ", ".join(timing)
    headers["X-Cache"] = served.tier
    headers["Content-Type"] = image.content_type
    headers["X-Content-Type-Options"] = "nosniff"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(image.data))
        return web.Response(status=200, headers=headers)
    return web.Response(body=image.data, headers=headers)
