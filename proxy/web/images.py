"""GET/HEAD /i/{sig}/{template}.{fmt}: parse, verify, negotiate, serve from cache or render."""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict

from ..cache import CachedImage
from ..config import Cache
from ..errors import BadRequest, URITooLong
from ..request import Checked, check_format, from_query
from ..spec import RenderSpec
from ..template.colors import parse_color
from ..template.model import Template
from ..template.refs import has_refs
from ..urls import PATH_PREFIX, check_expiry, verify_raw, yarl_spelling
from .facts import RequestFacts
from .freshness import Lifetime, cache_control, etag, is_not_modified
from .http import negotiate_format
from .keys import FACTS, REGISTRY, SERVICE, SETTINGS
from .written import WrittenHit, head_lines, writable


def _fallback_format(template_background: str) -> str:
    """PNG keeps a transparent background; everything else falls back to JPEG for `auto`."""
    if has_refs(template_background):
        return "png"
    return "jpeg" if parse_color(template_background)[3] == 255 else "png"


@dataclass(frozen=True, slots=True)
class KnownURL:
    """What a verified canonical URL resolved to, so its next GET skips parsing and the HMAC."""

    cache_key: str
    template: str
    version: str
    lifetime: Lifetime
    headers: Mapping[str, str]      # the image's validators, lifetime and purge tags
    # A memory hit's headers but Server-Timing, built once; a CIMultiDict, as aiohttp keeps
    # them, so each hit copies it (0.1 µs) instead of converting a dict (0.5 µs).
    hit_headers: CIMultiDict[str]
    # The same but Cache-Control, as header lines for a written hit (web/written.py); None
    # when they cannot be written as they are.
    hit_lines: bytes | None = None


def _image_response_headers(image: CachedImage, headers: Mapping[str, str],
                            tier: str) -> dict[str, str]:
    return {**headers, "X-Cache": tier, "Content-Type": image.content_type,
            "X-Content-Type-Options": "nosniff"}


def _respond(request: web.BaseRequest, image: CachedImage, headers: Mapping[str, str],
             facts: RequestFacts, started: float) -> web.Response:
    """The image with `headers` and Server-Timing."""
    if request.method == "HEAD":
        response = web.Response(status=200, headers=headers)
        response.headers["Content-Length"] = str(len(image.data))
    else:
        response = web.Response(body=image.data, headers=headers)
    total_ms = (time.perf_counter() - started) * 1000
    response.headers["Server-Timing"] = facts.server_timing(total_ms)
    return response


def _not_modified(facts: RequestFacts, headers: Mapping[str, str]) -> web.Response:
    facts.tier = "304"
    return web.Response(status=304, headers=headers)


# The image route; also the metrics label of hits answered before routing (web/hits.py).
IMAGE_ROUTE = "/i/{sig}/{template:[a-z0-9][a-z0-9-]{0,63}}.{fmt:[a-z]+}"


def memory_hit(request: web.BaseRequest, app: web.Application, facts: RequestFacts,
               started: float, *, written: bool = False) -> web.StreamResponse | None:
    """A memory hit for a canonical URL verified before: identical bytes verify identically.

    Measured: the full path (parse, HMAC, coerce, keys) is most of a hit's cost in Python;
    this keeps hits near the ceiling of a fixed-body aiohttp server. The template version and
    the expiry are re-checked, so an edited template or an expired link takes the full path.
    Needs no routing (web/hits.py calls it first): the index holds canonical URLs only.
    `started` is the request's start (perf_counter), for Server-Timing. With `written`, a
    keep-alive HTTP/1.1 GET gets a WrittenHit, its X-Request-Id included (web/written.py).
    """
    service = app[SERVICE]
    key = request.raw_path
    if key.partition("?")[0].endswith(".auto"):
        key += "\n" + negotiate_format(request.headers.get("Accept", ""), "?")
    known = service.known_urls.get(key)
    if known is None:
        return None
    hit_headers = known.hit_headers
    lifetime = hit_headers["Cache-Control"]
    expires = known.lifetime.expires
    if expires is not None:
        now = time.time()
        if now >= expires:
            return None
        # The lifetime shrinks as `exp` nears (web/freshness.py).
        lifetime = cache_control(known.lifetime, service.settings.cache, now)
    if app[REGISTRY].get(known.template).version != known.version:
        return None
    facts.template = known.template
    if is_not_modified(request.headers.get("If-None-Match"), hit_headers["ETag"]):
        return _not_modified(facts, {**known.headers, "Cache-Control": lifetime})
    image = service.lru.get(known.cache_key)
    if image is None:
        return None
    facts.tier = "memory"
    if written and known.hit_lines is not None and writable(request):
        total_ms = (time.perf_counter() - started) * 1000
        return WrittenHit(known.hit_lines, (
            f"Cache-Control: {lifetime}\r\nServer-Timing: {facts.server_timing(total_ms)}\r\n"
            f"X-Request-Id: {facts.request_id}\r\n"), image.data)
    # aiohttp copies the kept headers into the response: only that copy is changed.
    response = _respond(request, image, hit_headers, facts, started)
    if expires is not None:
        response.headers["Cache-Control"] = lifetime
    return response


def _verified(request: web.Request) -> tuple[Template, Checked] | web.Response:
    """The template and checked request once the signature verifies, or a redirect to its one
    URL."""
    settings = request.app[SETTINGS]
    info = request.match_info
    raw = request.raw_path
    if len(raw.encode("utf-8")) > settings.limits.max_url_bytes:
        raise URITooLong(f"URL longer than {settings.limits.max_url_bytes} bytes")
    pairs = list(request.query.items())
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        # Which copy would win differs between parsers (a CDN, aiohttp): refuse both.
        raise BadRequest("duplicate parameter")
    canonical_path = verify_raw(info["sig"], info["template"], info["fmt"], pairs,
                                settings.signing.keys, allow_unsafe=settings.signing.allow_unsafe)
    if raw != canonical_path and raw != yarl_spelling(canonical_path):
        # One image has one URL: any other spelling of a signed URL (`+` for %20, reordered
        # pairs, %59 for Y, an encoded `-`, the `jpg` alias) is sent to the canonical one,
        # never answered as a second cacheable 200 that nginx, a CDN and the known-URL index
        # would each keep.
        request[FACTS].tier = "redirect"
        return web.Response(status=301, headers={"Location": canonical_path,
                                                 "Cache-Control": "no-store"})
    template = request.app[REGISTRY].get(info["template"])
    checked = from_query(template, info["fmt"], pairs, settings.limits)
    check_expiry(checked.spec, now=time.time())
    return template, checked


def _image_headers(template: Template, spec: RenderSpec, tag: str,
                   cache_control_value: str) -> dict[str, str]:
    headers = {
        "ETag": tag,
        "Cache-Control": cache_control_value,
        # Lets a CDN purge every image of a template (Fastly Surrogate-Key, Cloudflare Cache-Tag).
        "Surrogate-Key": f"tpl-{template.name} tpl-{template.name}-{template.version}",
        "Cache-Tag": f"tpl-{template.name},tpl-{template.name}-{template.version}",
        "X-Template-Version": template.version,
    }
    if spec.fixed_format is None:
        headers["Vary"] = "Accept"
    return headers


def _fallback_headers(facts: RequestFacts, reason: str, image: CachedImage, spec: RenderSpec,
                      headers: Mapping[str, str], cache: Cache) -> dict[str, str]:
    """What was drawn decides: a fallback's own tag and short life."""
    facts.fallbacks = tuple(reason.split(", "))
    drawn = Lifetime(pinned_current=False, expires=spec.expires, fallback=True)
    return {**headers, "ETag": image.etag, "X-Fallback": reason,
            "Cache-Control": cache_control(drawn, cache, time.time())}


def _hit_lines(headers: Mapping[str, str]) -> bytes | None:
    try:
        return head_lines({name: value for name, value in headers.items()
                           if name.lower() != "cache-control"})
    except ValueError:
        return None


def _remember(request: web.Request, index: MutableMapping[str, KnownURL], spec: RenderSpec,
              known: KnownURL) -> None:
    """Index a canonical URL (never the yarl spelling, never a debug URL) for the fast path."""
    if not spec.debug and request.raw_path == (
            f"{PATH_PREFIX}{request.match_info['sig']}/{spec.canonical()}"):
        known_key = request.raw_path
        if spec.fixed_format is None:
            known_key += "\n" + negotiate_format(request.headers.get("Accept", ""), "?")
        index[known_key] = known


async def handle_image(request: web.Request) -> web.StreamResponse:
    """Serve one signed image URL."""
    app = request.app
    service = app[SERVICE]
    facts = request[FACTS]
    started = time.perf_counter()
    fast = memory_hit(request, app, facts, started)
    if fast is not None:
        return fast
    verified = _verified(request)
    if isinstance(verified, web.Response):
        return verified
    template, checked = verified
    spec, cache = checked.spec, service.settings.cache
    facts.template = template.name
    fmt = spec.fixed_format or negotiate_format(request.headers.get("Accept", ""),
                                                _fallback_format(template.background))
    check_format(template, fmt)
    key = service.key_for(spec, template, fmt)
    # Before rendering, only the real image's validators are known: a 304 confirms only it.
    lifetime = Lifetime(pinned_current=spec.version == template.version, expires=spec.expires)
    headers = _image_headers(template, spec, etag(key),
                             cache_control(lifetime, cache, time.time()))
    if_none_match = request.headers.get("If-None-Match")
    if is_not_modified(if_none_match, headers["ETag"]):
        return _not_modified(facts, headers)
    served = await service.get(spec, template, checked.values, fmt)
    image = served.image
    facts.tier, facts.fmt = served.tier, fmt
    if served.tier == "render":
        facts.render_ms, facts.fetch_ms = image.render_ms, served.fetch_ms
    if image.fallback_reason is not None:
        headers = _fallback_headers(facts, image.fallback_reason, image, spec, headers, cache)
        if is_not_modified(if_none_match, image.etag):
            return _not_modified(facts, headers)
    else:
        hit = _image_response_headers(image, headers, "memory")
        _remember(request, service.known_urls, spec, KnownURL(
            key, template.name, template.version, lifetime, headers, CIMultiDict(hit),
            _hit_lines(hit)))
    response_headers = _image_response_headers(image, headers, served.tier)
    if spec.debug and image.explain is not None:
        # Only signed debug URLs carry it: the fits are the author's business, not a visitor's.
        response_headers["X-Explain"] = image.explain
    return _respond(request, image, response_headers, facts, started)
