"""The JSON API under /v1: render, templates, the OpenAPI document, and the wiring of all.

Every handler but the OpenAPI document needs `Authorization: Bearer KEY` (web/auth.py).
Requests are parsed at the edge into the same RenderSpec a signed GET carries, and renders go
through the app's ImageService, so a URL minted here is a cache hit when an `<img>` asks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from ..config import Settings
from ..errors import InvalidBody
from ..template.describe import describe_template
from ..template.model import Template
from .api_assets import get_asset, post_asset
from .api_batch import (
    API_STATE,
    ApiState,
    batches_ctx,
    delete_batch,
    get_batch,
    get_batch_results,
    get_batch_zip,
    post_batch,
)
from .api_body import check_keys, mint, read_json, template_of
from .api_limits import charge_render, setup_api_limits
from .auth import ApiKey, authenticate, parse_keys
from .http import accepted_media
from .keys import API_KEY_NAME, REGISTRY, SERVICE, SETTINGS
from .openapi import openapi_document

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wants_image(request: web.Request) -> bool:
    """Whether the client asked for the image itself (`?image=1`, or Accept prefers image/*)."""
    if request.query.get("image") in ("1", "true"):
        return True
    for media in accepted_media(request.headers.get("Accept", "")):
        if media.startswith("image/"):
            return True
        if media in ("application/json", "application/*", "*/*"):
            return False
    return False


# --- handlers -------------------------------------------------------------------------------

async def post_render(request: web.Request) -> web.StreamResponse:
    """POST /v1/render: validate, render through the caches, answer the URL (or the image)."""
    settings = request.app[SETTINGS]
    charge_render(request)
    body = await read_json(request)
    errors = check_keys(body, {"template", "variables", "output"}, "")
    template = template_of(request, body.get("template"))
    minted = mint(template, body.get("variables"), body.get("output"), settings)
    if isinstance(minted, list):
        raise InvalidBody(errors + minted)
    if errors:
        raise InvalidBody(errors)
    service = request.app[SERVICE]
    served = await service.get(minted.spec, template, minted.values, minted.fmt)
    image = served.image
    headers = {"ETag": image.etag, "X-Cache": served.tier, "Cache-Control": "no-store",
               "X-Image-Url": minted.url}
    if image.fallback_reason is not None:
        headers["X-Fallback"] = image.fallback_reason
    if _wants_image(request):
        headers["X-Content-Type-Options"] = "nosniff"
        return web.Response(body=image.data, content_type=image.content_type, headers=headers)
    return web.json_response({
        "url": minted.url, "width": image.width, "height": image.height,
        "format": minted.fmt, "bytes": len(image.data), "etag": image.etag,
        "render_ms": round(image.render_ms, 2), "cache": served.tier,
        "version": template.version, "fallback": image.fallback_reason,
    }, headers=headers)


def _preview(template: Template, settings: Settings) -> str | None:
    """A signed URL of the template rendered with its defaults (None when values are required)."""
    minted = mint(template, {}, {}, settings)
    return None if isinstance(minted, list) else minted.url


def _describe(template: Template, settings: Settings) -> dict[str, Any]:
    return {**describe_template(template), "preview": _preview(template, settings)}


async def list_templates(request: web.Request) -> web.StreamResponse:
    """GET /v1/templates: every template's size, formats, version, variables and preview."""
    settings = request.app[SETTINGS]
    templates = [_describe(t, settings) for t in request.app[REGISTRY].all()]
    return web.json_response({"templates": templates})


async def get_template(request: web.Request) -> web.StreamResponse:
    """GET /v1/templates/{name}: one template's description."""
    template = request.app[REGISTRY].get(request.match_info["name"])
    return web.json_response(_describe(template, request.app[SETTINGS]))


async def get_openapi(request: web.Request) -> web.StreamResponse:
    """GET /v1/openapi.json: the OpenAPI 3.1 document (public, no key needed)."""
    settings = request.app[SETTINGS]
    return web.json_response(openapi_document(settings.server.base_url))


# --- wiring ---------------------------------------------------------------------------------

def _authed(handler: Handler) -> Handler:
    async def checked(request: web.Request) -> web.StreamResponse:
        # Before the body is read: an anonymous client cannot make us parse 10 MB of JSON.
        request[API_KEY_NAME] = authenticate(request.headers.get("Authorization"),
                                             request.app[API_STATE].keys)
        return await handler(request)

    checked.__name__ = handler.__name__
    checked.__doc__ = handler.__doc__
    return checked


def _api_state(keys: tuple[ApiKey, ...]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[API_STATE] = ApiState(keys=keys)
        yield

    return ctx


ROUTES: tuple[tuple[str, str, Handler, bool], ...] = (
    ("POST", "/v1/render", post_render, True),
    ("POST", "/v1/batch", post_batch, True),
    ("GET", "/v1/batch/{id}", get_batch, True),
    ("DELETE", "/v1/batch/{id}", delete_batch, True),
    ("GET", "/v1/batch/{id}/results", get_batch_results, True),
    ("GET", "/v1/batch/{id}/results.zip", get_batch_zip, True),
    ("GET", "/v1/templates", list_templates, True),
    ("GET", "/v1/templates/{name}", get_template, True),
    ("POST", "/v1/assets", post_asset, True),
    ("GET", "/v1/assets/{id}", get_asset, True),
    ("GET", "/v1/openapi.json", get_openapi, False),
)


def setup_api(app: web.Application) -> None:
    """Add the /v1 routes and the API state; call after the resources cleanup_ctx."""
    # Fail at start on a malformed key entry, not on the first request.
    keys = parse_keys(app[SETTINGS].api.keys)
    app.cleanup_ctx.append(_api_state(keys))
    app.cleanup_ctx.append(batches_ctx)
    setup_api_limits(app)
    for method, path, handler, needs_key in ROUTES:
        app.router.add_route(method, path, _authed(handler) if needs_key else handler)
