"""JSON bodies of the API: read them within the limits and validate them into a RenderSpec.

A body is checked field by field and every bad field is reported (a 422 lists them all);
what passes becomes the same RenderSpec a signed GET carries, signed and version-pinned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import formats
from ..config import Settings
from ..errors import BadRequest, FieldError, InvalidBody, NotFound, ProxyError, TooLarge
from ..spec import RESERVED, RenderSpec, parse_request, url_value
from ..template.model import Template
from ..template.values import Values, coerce, coerce_one
from ..urls import sign_path
from .keys import REGISTRY, SETTINGS

# JSON output option -> the URL's option name (parse_request reports errors by the latter).
OUTPUT_OPTIONS = {"width": "w", "height": "h", "quality": "q", "dpr": "dpr"}
OPTION_FIELDS = {short: f"output.{name}" for name, short in OUTPUT_OPTIONS.items()}


@dataclass(frozen=True)
class Minted:
    """A validated render request: the spec a signed URL carries, typed values and the URL."""

    spec: RenderSpec
    values: Values
    fmt: str
    url: str


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (declared or read)."""
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


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (400 when not JSON, 422 when not an object)."""
    settings = request.app[SETTINGS]
    body = await read_body(request, settings.api.max_body_bytes)
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidBody([FieldError("body", "expected a JSON object")])
    return data


def check_keys(data: Mapping[str, Any], allowed: set[str], prefix: str) -> list[FieldError]:
    """An error per unknown field (at most 20)."""
    return [FieldError(f"{prefix}{name}"[:128], "unknown field")
            for name in sorted(set(data) - allowed)][:20]


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
        try:
            text = url_value(name, value)
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
    errors.extend(check_keys(raw, {"format", *OUTPUT_OPTIONS}, "output."))
    requested = raw.get("format")
    if requested is not None:
        found = formats.find(requested) if isinstance(requested, str) else None
        if found is None:
            errors.append(FieldError("output.format",
                                     f"expected one of {', '.join(formats.SPELLINGS)}"))
        else:
            fmt = found.name
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
        if not ok_type:
            errors.append(FieldError(where, "expected a number" if name == "dpr"
                                     else "expected an integer"))
            continue
        try:
            text = url_value(short, value)
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
    url = settings.server.base_url + path
    return Minted(spec=spec, values=values, fmt=fmt, url=url)


def template_of(request: web.Request, raw: object) -> Template:
    """The template a body names, or a 422 naming the `template` field."""
    if not isinstance(raw, str) or not raw:
        raise InvalidBody([FieldError("template", "required: a template name")])
    try:
        return request.app[REGISTRY].get(raw)
    except NotFound:
        raise InvalidBody([FieldError("template", f"unknown template {raw[:64]!r}")]) from None
