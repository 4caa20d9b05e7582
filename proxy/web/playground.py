"""The template playground: a static page plus two small JSON endpoints under /playground/api/.

Served only when `server.playground` is on (`serve --dev` turns it on). When API keys are
configured, its API needs one: `Authorization: Bearer`, or the HttpOnly cookie that
`POST /playground/api/session` sets (the page asks for the key once). A key is never taken from
the URL. Without API keys it is open, so `picstream serve` refuses to start it without them
outside `--dev`. Minted URLs start with `server.base_url` (public_base_url), never Host.
"""

from __future__ import annotations

import hashlib
import html
import json
import shlex
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import formats
from ..errors import BadRequest, Unauthorized
from ..request import build, check_format
from ..spec import format_dpr, url_value
from ..template.describe import describe_template
from ..template.model import Template
from ..urls import sign_srcset, sign_url
from .api_body import read_json
from .auth import check_key, parse_keys
from .keys import REGISTRY, SETTINGS
from .trust import is_https

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {"playground.html": "text/html", "playground.js": "text/javascript",
                "playground.css": "text/css"}
COOKIE = "picstream_playground_key"
# Everything the page needs is same-origin; previews are fetched and shown as blob: URLs.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def setup_playground(app: web.Application) -> None:
    """Add the playground routes (call only when `server.playground` is on)."""
    app.router.add_get("/playground", page)
    app.router.add_get("/playground/static/{name}", static)
    app.router.add_get("/playground/api/templates", templates)
    app.router.add_post("/playground/api/sign", sign)
    app.router.add_post("/playground/api/session", session)


def _given_key(request: web.Request) -> str | None:
    if "key" in request.query:
        # URLs are logged (here, by proxies, in browser history) and sent on as Referer.
        raise BadRequest("an API key never goes in the URL: use Authorization: Bearer, or "
                         "the playground's own prompt", field="key")
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return request.cookies.get(COOKIE)


def _authorize(request: web.Request) -> str | None:
    """The verified API key (None when no keys are configured); raise when it is missing."""
    entries = request.app[SETTINGS].api.keys
    if not entries:
        return None
    given = _given_key(request)
    if not given:
        raise Unauthorized("the playground needs an API key: its prompt, or Bearer")
    check_key(given, parse_keys(entries))  # the API's own check: constant time, hashes only
    return given


def _file_response(name: str) -> web.Response:
    body = (STATIC_DIR / name).read_bytes()
    return web.Response(body=body, content_type=STATIC_TYPES[name], charset="utf-8", headers={
        "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"})


async def page(request: web.Request) -> web.Response:
    """GET /playground: the HTML page (static: it holds nothing; its API needs the key)."""
    _given_key(request)  # a key in the URL is refused even here
    return _file_response("playground.html")


async def session(request: web.Request) -> web.Response:
    """POST /playground/api/session {key}: check the key, keep it in an HttpOnly cookie."""
    key = (await read_json(request)).get("key")
    if not isinstance(key, str) or not key:
        raise BadRequest("key: required", field="key")
    settings = request.app[SETTINGS]
    if settings.api.keys:
        check_key(key, parse_keys(settings.api.keys))
    response = web.json_response({"ok": True}, headers={"Cache-Control": "no-store"})
    # Behind a TLS-terminating proxy the app sees plain http: believe X-Forwarded-Proto from
    # the configured proxies, or the cookie would travel without Secure.
    response.set_cookie(COOKIE, key, httponly=True, samesite="Strict", path="/playground",
                        secure=is_https(request, settings.server.trusted_proxies))
    return response


async def static(request: web.Request) -> web.Response:
    """GET /playground/static/{name}: the page's script and stylesheet (a fixed list)."""
    name = request.match_info["name"]
    if name not in STATIC_TYPES:
        raise web.HTTPNotFound()
    return _file_response(name)


async def templates(request: web.Request) -> web.Response:
    """GET /playground/api/templates: each template's variables and version, and load errors."""
    _authorize(request)
    registry = request.app[REGISTRY]
    described = [describe_template(t) for t in registry.all()]
    body = {"templates": described, "errors": dict(registry.errors),
            "version": hashlib.sha256(json.dumps([d["version"] for d in described]
                                                 + sorted(registry.errors.values()))
                                      .encode()).hexdigest()[:16]}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _output(raw: Any, template: Template) -> tuple[str, dict[str, object], bool]:
    """format, options by URL name (for the builder to check) and explain from `output`."""
    if not isinstance(raw, dict):
        raise BadRequest("output: expected an object", field="output")
    options = {short: None if raw.get(name) in (None, "") else raw.get(name)
               for name, short in (("width", "w"), ("height", "h"))}
    dpr = raw.get("dpr")
    if isinstance(dpr, float):
        dpr = float(format_dpr(dpr))    # a slider's 1.333 is 1.33: a URL's dpr has two decimals
    # 1x carries no dpr: its URL is the plain `src` one (sign_srcset's rule).
    options["dpr"] = None if dpr == 1 and not isinstance(dpr, bool) else dpr
    return str(raw.get("format") or template.formats[0]), options, bool(raw.get("explain"))


def _variables(raw: Any, template: Template) -> dict[str, str]:
    """Raw strings by name; an empty value of a variable without a default is left out."""
    if not isinstance(raw, dict):
        raise BadRequest("variables: expected an object", field="variables")
    out: dict[str, str] = {}
    for name, value in raw.items():
        text = url_value(name, value)
        var = template.variables.get(name)
        if var is not None and text == "" and var.default is None:
            continue
        out[name] = text
    return out


def _alt(template: Template, variables: dict[str, str]) -> str:
    texts = [variables[n] for n, v in template.variables.items()
             if v.type == "text" and variables.get(n)]
    return " \u2014 ".join(texts) or template.description or template.name


async def sign(request: web.Request) -> web.Response:
    """POST /playground/api/sign {template, variables, output}: signed URLs and snippets."""
    _authorize(request)
    settings = request.app[SETTINGS]
    body = await read_json(request)       # the API's body rules: size limit, JSON object
    if not isinstance(body.get("template"), str):
        raise BadRequest("template: required", field="template")
    template = request.app[REGISTRY].get(body["template"])
    variables = _variables(body.get("variables", {}), template)
    fmt, options, explain = _output(body.get("output", {}), template)
    # The one builder's checks, before signing: the same errors the image URL would give.
    spec = build(template, variables, options, fmt, settings.limits).spec
    check_format(template, spec.fmt)        # `auto` too: a snippet names its format
    fmt, width, height, one_dpr = spec.fmt, spec.width, spec.height, spec.dpr
    # The configured public base, never the Host header: whoever sends the request chooses
    # Host, and the URLs minted here are pasted into emails and pages.
    origin = settings.server.base_url
    keys = settings.signing.keys
    if not keys:
        raise BadRequest("signing.keys is empty: the playground signs with the server's key")
    common: dict[str, Any] = {"keys": keys, "width": width, "height": height,
                              "version": template.version, "limits": settings.limits}
    url = sign_url(template.name, variables, fmt=fmt, dpr=one_dpr, base_url=origin, **common)
    preview = sign_url(template.name, variables, fmt=fmt, dpr=one_dpr, debug=explain, **common)
    url_2x = sign_url(template.name, variables, fmt=fmt, dpr=2, base_url=origin, **common)
    srcset = sign_srcset(template.name, variables, fmt=fmt, base_url=origin, **common)
    if width is None and height is not None:
        width_for_h = max(1, round(template.size[0] * height / template.size[1]))
    else:
        width_for_h = width or template.size[0]
    css_w = width_for_h
    css_h = height or max(1, round(template.size[1] * css_w / template.size[0]))
    alt = html.escape(_alt(template, variables), quote=True)
    url_1x = sign_url(template.name, variables, fmt=fmt, base_url=origin, **common)
    img = (f'<img src="{html.escape(url_1x)}" srcset="{html.escape(srcset)}" '
           f'width="{css_w}" height="{css_h}" alt="{alt}">')
    email_fmt = fmt if fmt in formats.EMAIL_NAMES else next(
        (f for f in formats.EMAIL_NAMES if f in template.formats), fmt)
    # Mail clients ignore srcset: send the 2x image and pin the 1x size in attributes.
    email_url = sign_url(template.name, variables, fmt=email_fmt, dpr=2, base_url=origin,
                         **{**common, "width": css_w})
    email = (f'<img src="{html.escape(email_url)}" width="{css_w}" height="{css_h}" '
             f'alt="{alt}" style="display:block;border:0;outline:none;text-decoration:none;'
             f'width:100%;max-width:{css_w}px;height:auto;">')
    output: dict[str, Any] = {"format": fmt}
    if width is not None:
        output["width"] = width
    if one_dpr is not None:
        output["dpr"] = int(one_dpr) if one_dpr.is_integer() else one_dpr
    api_body = json.dumps({"template": template.name, "variables": variables,
                           "output": output}, ensure_ascii=False)
    curl = (f"curl -sS -X POST {shlex.quote(origin + '/v1/render')} "
            '-H "Authorization: Bearer $PICSTREAM_API_KEY" '
            "-H 'Content-Type: application/json' "
            f"-d {shlex.quote(api_body)}")
    return web.json_response({
        "url": url, "preview": preview, "url_2x": url_2x, "srcset": srcset,
        "img_snippet": img, "email_snippet": email, "curl": curl,
        "width": css_w, "height": css_h, "format": fmt, "version": template.version,
    }, headers={"Cache-Control": "no-store"})
