"""The JSON API under /v1: render, batch, templates, assets and the OpenAPI document.

Every handler but the OpenAPI document needs `Authorization: Bearer KEY` (web/auth.py).
Requests are parsed at the edge into the same RenderSpec a signed GET carries, and renders go
through the app's ImageService, so a URL minted here is a cache hit when an `<img>` asks.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ..batch import Progress, run_batch
from ..config import Settings
from ..errors import (
    BadRequest,
    NotFound,
    Overloaded,
    ProxyError,
    TooLarge,
    UnknownBatch,
    Unprocessable,
)
from ..sources.assets import AssetBackend, AssetInfo, asset_id
from ..sources.fetch import RASTER_FORMATS
from ..spec import CONTENT_TYPES, FORMAT_ALIASES, RESERVED, RenderSpec, parse_request
from ..template.describe import describe_template
from ..template.model import Template
from ..template.values import Values, coerce, coerce_one
from ..urls import sign_path
from .auth import ApiKey, authenticate, parse_keys
from .keys import ASSETS, REGISTRY, SERVICE, SETTINGS
from .openapi import openapi_document
from .service import ImageService

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Finished batches kept for `GET /v1/batch/{id}`; the oldest finished one is dropped first.
MAX_BATCHES = 64
# A render refused by a full gate (live traffic won the race) is retried, not failed.
OVERLOADED_RETRIES = 200
OVERLOADED_WAIT_S = 0.05
# How often a waiting prerender looks at the render gate again.
ADMIT_POLL_S = 0.002
NDJSON_CHUNK_LINES = 500
API_FORMATS = ("webp", "avif", "png", "jpeg", "jpg", "gif")
ASSET_TYPES = {**CONTENT_TYPES, "heif": "image/heif", "svg": "image/svg+xml"}

# JSON output option -> the URL's option name (parse_request reports errors by the latter).
OUTPUT_OPTIONS = {"width": "w", "height": "h", "quality": "q", "dpr": "dpr"}
OPTION_FIELDS = {short: f"output.{name}" for name, short in OUTPUT_OPTIONS.items()}


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a JSON body, named by its path (`variables.name`)."""

    field: str
    error: str

    def to_json(self) -> dict[str, str]:
        """As listed in a 422 body."""
        return {"field": self.field, "error": self.error}


class InvalidBody(Unprocessable):
    """A JSON body with one or more invalid fields; the 422 lists every one of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.field}: {first.error}{more}", field=first.field)
        self.errors = errors

    def to_json(self) -> dict[str, object]:
        """The shared error shape plus `errors`: every invalid field."""
        body = super().to_json()
        body["errors"] = [e.to_json() for e in self.errors]
        return body


@dataclass(frozen=True)
class Minted:
    """A validated render request: the spec a signed URL carries, typed values and the URL."""

    spec: RenderSpec
    values: Values
    fmt: str
    url: str


@dataclass
class Batch:
    """One batch: URLs and per-item status only (rendered bytes live in the caches)."""

    id: str
    template: str
    version: str
    prerender: bool
    urls: list[str | None]
    status: list[str]                 # pending | rendered | failed | invalid | minted
    errors: dict[int, str]
    progress: Progress
    created_at: float = field(default_factory=time.time)
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        """True once nothing more will change."""
        return self.progress.state in ("done", "cancelled")

    def summary(self) -> dict[str, Any]:
        """Progress of the batch as served by `GET /v1/batch/{id}`."""
        return {"id": self.id, "template": self.template, "version": self.version,
                "prerender": self.prerender, **self.progress.snapshot(),
                "errors": {str(i): e for i, e in sorted(self.errors.items())[:1000]}}


@dataclass
class ApiState:
    """Per-app API state: the parsed keys, the batches and the prerender limiter."""

    keys: tuple[ApiKey, ...]
    limiter: asyncio.Semaphore
    batches: OrderedDict[str, Batch] = field(default_factory=OrderedDict)

    def add(self, batch: Batch) -> None:
        """Keep `batch`, dropping the oldest finished batches beyond MAX_BATCHES."""
        while len(self.batches) >= MAX_BATCHES:
            old = next((b for b in self.batches.values() if b.finished), None)
            if old is None:
                raise Overloaded("too many batches in progress; retry later")
            del self.batches[old.id]
        self.batches[batch.id] = batch


# Typed here rather than keys.API (declared as Any there) so handlers type-check.
API_STATE = web.AppKey("api_state_v1", ApiState)


def _assets(request: web.Request) -> AssetBackend:
    return cast(AssetBackend, request.app[ASSETS])


# --- request body helpers -------------------------------------------------------------------

async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise TooLarge(f"body larger than {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        # aiohttp enforces client_max_size (api.max_body_bytes) while reading.
        raise TooLarge(f"body larger than {limit} bytes") from None
    if len(body) > limit:
        raise TooLarge(f"body larger than {limit} bytes")
    return body


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


async def _read_json(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    body = await _read_body(request, settings.api.max_body_bytes)
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidBody([FieldError("body", "expected a JSON object")])
    return data


def _check_keys(data: Mapping[str, Any], allowed: set[str], prefix: str) -> list[FieldError]:
    return [FieldError(f"{prefix}{name}"[:128], "unknown field")
            for name in sorted(set(data) - allowed)][:20]


def _as_text(value: object) -> str | None:
    # bool before int: bool is an int subclass and templates parse "true", not "True".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (str, int)):
        return str(value)
    return None


# --- validation into a RenderSpec -----------------------------------------------------------

def _variables(template: Template, raw: object, settings: Settings,
               errors: list[FieldError]) -> list[tuple[str, str]]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append(FieldError("variables", "expected an object of name: value"))
        return []
    pairs: list[tuple[str, str]] = []
    for name, value in raw.items():
        where = f"variables.{name}"[:128]
        if value is None:
            continue  # null means "not given": the template's default applies
        if name in RESERVED:
            errors.append(FieldError(where, "reserved for an output option; use `output`"))
            continue
        var = template.variables.get(name)
        if var is None:
            errors.append(FieldError(where, f"unknown variable for template {template.name}"))
            continue
        text = _as_text(value)
        if text is None:
            errors.append(FieldError(where, "expected a string, number or boolean"))
            continue
        try:
            # The URL's own checks (valid Unicode, limits.max_text_length), then the type's.
            parse_request(template.name, "png", [(name, text)], 0, settings.limits)
            coerce_one(var, text)
        except ProxyError as exc:
            errors.append(FieldError(where, _strip_name(exc.public, name)))
            continue
        pairs.append((name, text))
    given = {name for name, _ in pairs}
    for name, var in template.variables.items():
        if name not in given and var.default is None and not var.optional and (
                var.type != "image" or var.fallback is None):
            errors.append(FieldError(f"variables.{name}", "required"))
    return pairs


def _strip_name(message: str, name: str) -> str:
    return message.removeprefix(f"{name}: ")


def _output(template: Template, raw: object, settings: Settings,
            errors: list[FieldError]) -> tuple[str, list[tuple[str, str]]]:
    if raw is None:
        raw = {}
    fmt = "png" if "png" in template.formats else template.formats[0]
    if not isinstance(raw, dict):
        errors.append(FieldError("output", "expected an object"))
        return fmt, []
    errors.extend(_check_keys(raw, {"format", *OUTPUT_OPTIONS}, "output."))
    requested = raw.get("format")
    if requested is not None:
        if not isinstance(requested, str) or requested not in API_FORMATS:
            errors.append(FieldError("output.format", f"expected one of {', '.join(API_FORMATS)}"))
        else:
            fmt = FORMAT_ALIASES.get(requested, requested)
            if fmt not in template.formats:
                errors.append(FieldError("output.format",
                                         f"template {template.name} is not offered as {fmt}"))
    pairs: list[tuple[str, str]] = []
    for name, short in OUTPUT_OPTIONS.items():
        value = raw.get(name)
        if value is None:
            continue
        where = f"output.{name}"
        ok_type = (isinstance(value, (int, float)) and not isinstance(value, bool)
                   if name == "dpr" else isinstance(value, int) and not isinstance(value, bool))
        text = _as_text(value) if ok_type else None
        if text is None:
            errors.append(FieldError(where, "expected a number" if name == "dpr"
                                     else "expected an integer"))
            continue
        try:
            parse_request(template.name, fmt, [(short, text)], 0, settings.limits)
        except ProxyError as exc:
            errors.append(FieldError(where, _strip_name(exc.public, short)))
            continue
        pairs.append((short, text))
    return fmt, pairs


def mint(template: Template, variables: object, output: object, settings: Settings,
         prefix: str = "") -> Minted | list[FieldError]:
    """Validate variables and output options into a signed, version-pinned URL (or errors)."""
    errors: list[FieldError] = []
    pairs = _variables(template, variables, settings, errors)
    fmt, options = _output(template, output, settings, errors)
    if not errors:
        try:
            # Cross-field checks (w x h x dpr) and the exact spec a GET of the URL parses.
            spec = parse_request(template.name, fmt, [*pairs, *options,
                                                      ("v", template.version)],
                                 0, settings.limits)
            values = coerce(template, dict(spec.variables))
        except ProxyError as exc:
            field_name = OPTION_FIELDS.get(exc.field or "", f"variables.{exc.field}")
            errors.append(FieldError(field_name, _strip_name(exc.public, exc.field or "")))
    if errors:
        return [FieldError(prefix + e.field, e.error) for e in errors]
    if not settings.signing.keys:
        raise ProxyError("no signing keys configured", detail="signing.keys is empty")
    path = sign_path(spec, settings.signing.keys)
    if len(path) > settings.limits.max_url_bytes:
        return [FieldError(prefix + "variables",
                           f"URL longer than {settings.limits.max_url_bytes} bytes")]
    url = settings.server.public_base_url.rstrip("/") + path
    return Minted(spec=spec, values=values, fmt=fmt, url=url)


def _template(request: web.Request, raw: object) -> Template:
    if not isinstance(raw, str) or not raw:
        raise InvalidBody([FieldError("template", "required: a template name")])
    try:
        return request.app[REGISTRY].get(raw)
    except NotFound:
        raise InvalidBody([FieldError("template", f"unknown template {raw[:64]!r}")]) from None


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def _wants_image(request: web.Request) -> bool:
    """Whether the client asked for the image itself (`?image=1`, or Accept prefers image/*)."""
    if request.query.get("image") in ("1", "true"):
        return True
    for part in request.headers.get("Accept", "").lower().split(",")[:32]:
        media, _, params = part.strip().partition(";")
        media = media.strip()
        if _quality(params) <= 0:
            continue
        if media.startswith("image/"):
            return True
        if media in ("application/json", "application/*", "*/*"):
            return False
    return False


# --- handlers -------------------------------------------------------------------------------

async def post_render(request: web.Request) -> web.StreamResponse:
    """POST /v1/render: validate, render through the caches, answer the URL (or the image)."""
    settings = request.app[SETTINGS]
    body = await _read_json(request)
    errors = _check_keys(body, {"template", "variables", "output"}, "")
    template = _template(request, body.get("template"))
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


def _mint_all(template: Template, items: list[Any], output: object,
              settings: Settings) -> list[Minted | list[FieldError]]:
    """Validate every batch item (run in a thread: 10,000 items take a moment of CPU)."""
    out: list[Minted | list[FieldError]] = []
    base = output if isinstance(output, dict) else {}
    for index, item in enumerate(items):
        prefix = f"items[{index}]."
        if not isinstance(item, dict):
            out.append([FieldError(f"items[{index}]", "expected an object")])
            continue
        unknown = _check_keys(item, {"variables", "output"}, prefix)
        own = item.get("output")
        if own is not None and not isinstance(own, dict):
            out.append([*unknown, FieldError(prefix + "output", "expected an object")])
            continue
        merged = {**base, **(own or {})}
        result = mint(template, item.get("variables"), merged, settings, prefix)
        if unknown:
            result = unknown + (result if isinstance(result, list) else [])
        out.append(result)
    return out


async def post_batch(request: web.Request) -> web.StreamResponse:
    """POST /v1/batch: mint every item's URL now; with `prerender`, render in the background."""
    app = request.app
    settings = app[SETTINGS]
    state = app[API_STATE]
    body = await _read_json(request)
    errors = _check_keys(body, {"template", "items", "output", "prerender"}, "")
    template = _template(request, body.get("template"))
    items = body.get("items")
    if not isinstance(items, list) or not items:
        errors.append(FieldError("items", "expected a non-empty array"))
    elif len(items) > settings.api.max_batch_items:
        raise TooLarge(f"items: more than {settings.api.max_batch_items} items "
                       "(api.max_batch_items)", field="items")
    output = body.get("output")
    if output is not None and not isinstance(output, dict):
        errors.append(FieldError("output", "expected an object"))
    prerender = body.get("prerender", False)
    if not isinstance(prerender, bool):
        errors.append(FieldError("prerender", "expected true or false"))
    if errors:
        raise InvalidBody(errors)
    assert isinstance(items, list)
    loop = asyncio.get_running_loop()
    results = await loop.run_in_executor(None, _mint_all, template, items, output, settings)
    total = len(results)
    batch = Batch(id=secrets.token_urlsafe(12), template=template.name,
                  version=template.version, prerender=prerender, urls=[None] * total,
                  status=["pending"] * total, errors={}, progress=Progress(total=total))
    jobs: list[Minted | None] = [None] * total
    listed: list[dict[str, Any]] = []
    for index, result in enumerate(results):
        if isinstance(result, list):
            reason = "; ".join(f"{e.field}: {e.error}" for e in result[:10])
            batch.status[index] = "invalid"
            batch.errors[index] = reason
            batch.progress.record(index, reason)
            listed.append({"index": index, "ok": False,
                           "errors": [e.to_json() for e in result[:10]]})
            continue
        batch.urls[index] = result.url
        listed.append({"index": index, "ok": True, "url": result.url})
        if prerender:
            jobs[index] = result
        else:
            batch.status[index] = "minted"
            batch.progress.record(index, None)
    state.add(batch)
    if prerender:
        batch.task = asyncio.create_task(_prerender(app, batch, template, jobs))
    else:
        batch.progress.state = "done"
        batch.progress.finished_at = time.monotonic()
    base = f"/v1/batch/{batch.id}"
    return web.json_response({
        **batch.summary(), "valid": total - len(batch.errors), "invalid": len(batch.errors),
        "status_url": base, "results_url": f"{base}/results", "items": listed,
    }, status=202 if prerender else 200)


def _render_threads(settings: Settings) -> int:
    import os

    return settings.server.render_threads or (os.cpu_count() or 2)


async def _prerender(app: web.Application, batch: Batch, template: Template,
                     jobs: list[Minted | None]) -> None:
    """Render a batch's valid items at a lower priority than live requests."""
    state = app[API_STATE]
    service: ImageService = app[SERVICE]
    threads = _render_threads(app[SETTINGS])

    async def admit() -> None:
        # Lower priority: start a batch render only while a render thread is idle, so a live
        # miss waits at most for one batch render already running, never for a queue of them.
        while service.gate.in_flight >= threads:
            await asyncio.sleep(ADMIT_POLL_S)

    async def work(index: int, job: Minted) -> None:
        jobs[index] = None  # the runner holds the job now; drop the batch's reference
        for _ in range(OVERLOADED_RETRIES):
            try:
                await service.get(job.spec, template, job.values, job.fmt)
                return
            except Overloaded:
                await asyncio.sleep(OVERLOADED_WAIT_S)
                await admit()
        raise Overloaded("the server stayed overloaded")

    def pending() -> Iterator[tuple[int, Minted]]:
        for index, job in enumerate(jobs):
            if job is not None:
                yield index, job

    def on_item(index: int, error: str | None) -> None:
        batch.status[index] = "rendered" if error is None else "failed"
        if error is not None:
            batch.errors[index] = error

    await run_batch(pending(), work, batch.progress,
                    concurrency=app[SETTINGS].api.batch_concurrency, limiter=state.limiter,
                    admit=admit, on_item=on_item)


def _batch(request: web.Request) -> Batch:
    found = request.app[API_STATE].batches.get(request.match_info["id"])
    if found is None:
        raise UnknownBatch("no such batch")
    return found


async def get_batch(request: web.Request) -> web.StreamResponse:
    """GET /v1/batch/{id}: progress (done, failed, total, errors by index, rate, state)."""
    return web.json_response(_batch(request).summary(), headers={"Cache-Control": "no-store"})


async def get_batch_results(request: web.Request) -> web.StreamResponse:
    """GET /v1/batch/{id}/results: one NDJSON line per item, in order."""
    batch = _batch(request)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    lines: list[str] = []
    for index, (url, status) in enumerate(zip(batch.urls, batch.status, strict=True)):
        line: dict[str, Any] = {"index": index, "status": status, "url": url}
        if index in batch.errors:
            line["error"] = batch.errors[index]
        lines.append(json.dumps(line))
        if len(lines) >= NDJSON_CHUNK_LINES:
            await response.write(("\n".join(lines) + "\n").encode())
            lines.clear()
    if lines:
        await response.write(("\n".join(lines) + "\n").encode())
    await response.write_eof()
    return response


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


async def _upload_bytes(request: web.Request, limit: int) -> bytes:
    if not request.content_type.startswith("multipart/"):
        return await _read_body(request, limit)
    try:
        return await _first_file_part(request, limit)
    except (ValueError, AssertionError, HttpProcessingError):
        # aiohttp's multipart reader raises these for a malformed body: the client's fault.
        raise BadRequest("malformed multipart body") from None


async def _first_file_part(request: web.Request, limit: int) -> bytes:
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.filename is None and (
                part.name not in ("file", "image")):
            continue
        chunks: list[bytes] = []
        size = 0
        while chunk := await part.read_chunk(65536):
            size += len(chunk)
            # Multipart bodies bypass client_max_size: count the bytes ourselves.
            if size > limit:
                raise TooLarge(f"upload larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    raise InvalidBody([FieldError("file", "no file part in the multipart body")])


def _asset_json(info: AssetInfo) -> dict[str, Any]:
    return {"id": f"asset:{info.id}", "format": info.fmt, "width": info.width,
            "height": info.height, "bytes": info.bytes}


async def post_asset(request: web.Request) -> web.StreamResponse:
    """POST /v1/assets: store an image (raw body or multipart), checked like a remote source."""
    settings = request.app[SETTINGS]
    sources = settings.sources
    limit = min(settings.api.max_body_bytes, sources.max_bytes)
    data = await _upload_bytes(request, limit)
    if not data:
        raise InvalidBody([FieldError("file", "empty upload")])
    store = _assets(request)
    allowed = set(RASTER_FORMATS) | ({"svg"} if sources.allow_svg else set())
    loop = asyncio.get_running_loop()
    existed = await loop.run_in_executor(None, store.exists, asset_id(data))

    def put() -> AssetInfo:
        info: AssetInfo = store.put(data, allowed=allowed, max_pixels=sources.max_pixels,
                                    max_frames=sources.max_frames)
        return info

    # Sniffing, hashing, fsync and rename all block: keep them off the event loop.
    info = await loop.run_in_executor(None, put)
    return web.json_response(_asset_json(info), status=200 if existed else 201)


async def get_asset(request: web.Request) -> web.StreamResponse:
    """GET /v1/assets/{id}: info, or the stored bytes with `?raw=1`."""
    aid = request.match_info["id"].removeprefix("asset:")
    store = _assets(request)
    loop = asyncio.get_running_loop()
    info: AssetInfo = await loop.run_in_executor(None, store.info, aid)
    if request.query.get("raw") not in ("1", "true"):
        return web.json_response(_asset_json(info))
    data: bytes = await loop.run_in_executor(None, store.get, aid)
    return web.Response(body=data, headers={
        "Content-Type": ASSET_TYPES.get(info.fmt, "application/octet-stream"),
        "X-Content-Type-Options": "nosniff",
        # An uploaded SVG must never run script in our origin.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "Cache-Control": "private, max-age=31536000, immutable"})


async def get_openapi(request: web.Request) -> web.StreamResponse:
    """GET /v1/openapi.json: the OpenAPI 3.1 document (public, no key needed)."""
    settings = request.app[SETTINGS]
    return web.json_response(openapi_document(settings.server.public_base_url))


# --- wiring ---------------------------------------------------------------------------------

def _authed(handler: Handler) -> Handler:
    async def checked(request: web.Request) -> web.StreamResponse:
        # Before the body is read: an anonymous client cannot make us parse 10 MB of JSON.
        authenticate(request.headers.get("Authorization"), request.app[API_STATE].keys)
        return await handler(request)

    checked.__name__ = handler.__name__
    checked.__doc__ = handler.__doc__
    return checked


def _api_state(keys: tuple[ApiKey, ...]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        state = ApiState(keys=keys,
                         limiter=asyncio.Semaphore(app[SETTINGS].api.batch_concurrency))
        app[API_STATE] = state
        yield
        tasks = [b.task for b in state.batches.values() if b.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return ctx


ROUTES: tuple[tuple[str, str, Handler, bool], ...] = (
    ("POST", "/v1/render", post_render, True),
    ("POST", "/v1/batch", post_batch, True),
    ("GET", "/v1/batch/{id}", get_batch, True),
    ("GET", "/v1/batch/{id}/results", get_batch_results, True),
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
    for method, path, handler, needs_key in ROUTES:
        app.router.add_route(method, path, _authed(handler) if needs_key else handler)
