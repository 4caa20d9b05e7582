"""JSON bodies of the API: read them within the limits and check them into a RenderSpec.

The JSON types are checked here; the values go through the one builder every door uses
(proxy/request.py), whose every problem is reported by field (a 422 lists them all). What
passes becomes the same RenderSpec a signed GET carries, signed and version-pinned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import formats
from ..config import Settings
from ..errors import (
    BadRequest,
    FieldError,
    InvalidBody,
    NotFound,
    ProxyError,
    TooLarge,
    URITooLong,
)
from ..request import Refused, build
from ..spec import RenderSpec
from ..template.model import Template
from ..template.values import Values
from ..urls import signed_url
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


def _variables(raw: object, errors: list[FieldError]) -> dict[str, object]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(FieldError("variables", "expected an object of name: value"))
        return {}
    # null means "not given": the template's default applies.
    return {name: value for name, value in raw.items() if value is not None}


def _output(template: Template, raw: object,
            errors: list[FieldError]) -> tuple[str, dict[str, object]]:
    """The format and the options (by their URL names) once their JSON types are right."""
    fmt = "png" if "png" in template.formats else template.formats[0]
    if raw is None:
        return fmt, {}
    if not isinstance(raw, dict):
        errors.append(FieldError("output", "expected an object"))
        return fmt, {}
    errors.extend(check_keys(raw, {"format", *OUTPUT_OPTIONS}, "output."))
    requested = raw.get("format")
    if requested is not None:
        # `auto` is a URL's choice from Accept; an API request names what it wants.
        if not isinstance(requested, str) or formats.find(requested) is None:
            errors.append(FieldError("output.format",
                                     f"expected one of {', '.join(formats.SPELLINGS)}"))
        else:
            fmt = requested
    options: dict[str, object] = {}
    for name, short in OUTPUT_OPTIONS.items():
        value = raw.get(name)
        if value is None:
            continue
        number = (int, float) if name == "dpr" else int
        if isinstance(value, bool) or not isinstance(value, number):
            errors.append(FieldError(f"output.{name}", "expected a number" if name == "dpr"
                                     else "expected an integer"))
            continue
        options[short] = value
    return fmt, options


def field_error(part: str, problem: ProxyError) -> FieldError:
    """One of the builder's problems, named the way a JSON body names its field."""
    name = problem.field or ""
    if part == "variables":
        where = f"variables.{name}"[:128]
    else:
        where = "output.format" if name == "fmt" else OPTION_FIELDS.get(name, f"output.{name}")
    return FieldError(where, problem.public.removeprefix(f"{name}: "))


def mint(template: Template, variables: object, output: object, settings: Settings,
         prefix: str = "") -> Minted | list[FieldError]:
    """The JSON adapter onto the one builder (proxy/request.py): variables and output options
    into a signed, version-pinned URL, or every error."""
    errors: list[FieldError] = []
    given = _variables(variables, errors)
    fmt, options = _output(template, output, errors)
    checked = None
    try:
        checked = build(template, given, {**options, "v": template.version}, fmt,
                        settings.limits)
    except Refused as refused:
        errors += [field_error(part, problem) for part, problem in refused.problems]
    if errors or checked is None:
        return [FieldError(prefix + e.field, e.error) for e in errors]
    if not settings.signing.keys:
        raise ProxyError("no signing keys configured", detail="signing.keys is empty")
    try:
        url = signed_url(checked.spec, settings.signing.keys, base_url=settings.server.base_url,
                         limits=settings.limits)
    except URITooLong as exc:
        return [FieldError(prefix + "variables", exc.public)]
    spec = checked.spec
    return Minted(spec=spec, values=checked.values, fmt=spec.fixed_format or fmt, url=url)


def template_of(request: web.Request, raw: object) -> Template:
    """The template a body names, or a 422 naming the `template` field."""
    if not isinstance(raw, str) or not raw:
        raise InvalidBody([FieldError("template", "required: a template name")])
    try:
        return request.app[REGISTRY].get(raw)
    except NotFound:
        raise InvalidBody([FieldError("template", f"unknown template {raw[:64]!r}")]) from None
