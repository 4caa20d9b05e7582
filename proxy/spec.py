"""RenderSpec and OutputOptions: a request parsed into pure, validated data."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from . import formats
from .config import Limits
from .errors import BadRequest, InvalidValue, NotFound, URITooLong


@dataclass(frozen=True)
class OutputOptions:
    """What to encode: format, optional size (aspect kept unless both), quality, dpr."""

    format: str = "png"              # a Format's name (never an alias or "auto" here)
    width: int | None = None
    height: int | None = None
    quality: int | None = None       # None: the encoder table's default
    dpr: float = 1.0                 # 1..4: text and vectors drawn at that scale


# Everything below parses a request into a RenderSpec and defines its canonical form, the one
# string that is signed and cached. docs/signing.md specifies it for other languages.

# Output options share the query with template variables, so no variable may use these names.
RESERVED = frozenset({"w", "h", "q", "dpr", "v", "exp", "debug"})

TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Names use only characters that percent-encoding leaves alone and that sort the same way in
# every language (ASCII), so the canonical form needs no rules for odd keys. Template loaders
# should enforce this same pattern on variable names.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")

# One spelling per value ([0-9], not \d, which matches other scripts' digits; no leading zeros,
# no "+", no "1.50"): an unsigned variant of a signed number would otherwise be a second URL.
_POSITIVE_INT = re.compile(r"[1-9][0-9]{0,8}")
_DPR = re.compile(r"[1-3](?:\.[0-9]?[1-9])?|4")
_VERSION = re.compile(r"[0-9a-f]{8,64}")
_UNIX_S = re.compile(r"[1-9][0-9]{0,11}")

_T = TypeVar("_T")


@dataclass(frozen=True)
class RenderSpec:
    """A parsed, validated image request: template, format, raw variables and output options."""

    template: str
    fmt: str                                     # as in the URL: formats.URL_SPELLINGS
    variables: tuple[tuple[str, str], ...] = ()  # sorted by name; raw decoded strings
    width: int | None = None
    height: int | None = None
    quality: int | None = None
    dpr: float | None = None                     # None: not in the URL (renders at 1)
    version: str | None = None                   # template version the URL was minted for
    expires: int | None = None                   # unix seconds
    debug: bool = False

    @property
    def fixed_format(self) -> str | None:
        """The output format the URL pins (alias resolved), or None for `auto`."""
        if self.fmt == formats.AUTO:
            return None
        return formats.get(self.fmt).name

    def params(self) -> tuple[tuple[str, str], ...]:
        """Every query pair, variables and options alike, as canonical strings sorted by name."""
        options: list[tuple[str, str]] = []
        if self.width is not None:
            options.append(("w", str(self.width)))
        if self.height is not None:
            options.append(("h", str(self.height)))
        if self.quality is not None:
            options.append(("q", str(self.quality)))
        if self.dpr is not None:
            options.append(("dpr", format_dpr(self.dpr)))
        if self.version is not None:
            options.append(("v", self.version))
        if self.expires is not None:
            options.append(("exp", str(self.expires)))
        if self.debug:
            options.append(("debug", "1"))
        return tuple(sorted((*self.variables, *options)))

    def query_string(self) -> str:
        """The canonical query: `name=value` pairs sorted by name, percent-encoded one way."""
        return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in self.params())

    def canonical(self) -> str:
        """The signed and cached string: `{template}.{fmt}`, then `?{query}` if any."""
        return self._canonical

    @cached_property
    def _canonical(self) -> str:
        # A miss asks for it four times (verify, redirect check, cache key, known-URL index):
        # built once, as the spec is frozen.
        head = f"{self.template}.{self.fmt}"
        query = self.query_string()
        return f"{head}?{query}" if query else head

    def output_options(self, fmt_resolved: str) -> OutputOptions:
        """The encoder's options once the format is known (`auto` negotiated, aliases resolved)."""
        return OutputOptions(format=formats.get(fmt_resolved).name, width=self.width,
                             height=self.height, quality=self.quality,
                             dpr=1.0 if self.dpr is None else self.dpr)


_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")
_BYTE_SPELLING = tuple(chr(b) if _UNRESERVED.fullmatch(chr(b)) else f"%{b:02X}"
                       for b in range(256))


def _encode(text: str) -> str:
    # Every byte of the UTF-8 form except A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase hex), the
    # same set JavaScript's encodeURIComponent leaves alone minus ! ' ( ) *. A table lookup a
    # byte in C: urllib's quote called a Python-level quoter per byte, 24 values a miss.
    if _UNRESERVED.fullmatch(text):
        return text
    return "".join(map(_BYTE_SPELLING.__getitem__, text.encode("utf-8")))


def url_value(name: str, value: object) -> str:
    """The one spelling in a URL of a value given as JSON, CSV, CLI or Python data.

    Every door that takes typed values (sign_url, the JSON API, batch rows, the playground)
    spells them here, so the same value is the same URL (and signature) whichever door mints it.
    """
    # bool before int: bool is an int subclass, and templates parse "true", not "True".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{name}: not a finite number", field=name)
        # 2.0 -> "2": JSON and CSV readers cannot tell them apart, and dpr has one spelling.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (str, int)):
        return str(value)
    raise InvalidValue(f"{name}: expected a string, number or boolean", field=name)


def format_dpr(dpr: float) -> str:
    """The one spelling of a dpr: at most two decimals, no trailing zeros ("1", "1.5", "1.25")."""
    return f"{dpr:.2f}".rstrip("0").rstrip(".")


def parse_request(template: str, fmt: str, query: Iterable[tuple[str, str]], url_bytes: int,
                  limits: Limits) -> RenderSpec:
    """Validate a decoded request (path parts, query pairs, raw URL length) into a RenderSpec."""
    if url_bytes > limits.max_url_bytes:
        raise URITooLong(f"URL longer than {limits.max_url_bytes} bytes")
    if not TEMPLATE_NAME.fullmatch(template):
        raise NotFound("unknown template")
    if fmt not in formats.URL_SPELLINGS:
        raise InvalidValue(f"unsupported format; use one of {', '.join(formats.URL_SPELLINGS)}",
                           field="fmt")
    pairs: dict[str, str] = {}
    for key, value in query:
        if not VARIABLE_NAME.fullmatch(key):
            raise BadRequest(f"invalid parameter name {key[:64]!r}")
        if key in pairs:
            # Which copy would win differs between parsers (a CDN, aiohttp): refuse both.
            raise BadRequest(f"duplicate parameter: {key}", field=key)
        _check_text(key, value, limits)
        pairs[key] = value
    options = {k: pairs.pop(k) for k in RESERVED & pairs.keys()}
    spec = RenderSpec(
        template=template,
        fmt=fmt,
        variables=tuple(sorted(pairs.items())),
        width=_int_option(options, "w", limits.max_output_side),
        height=_int_option(options, "h", limits.max_output_side),
        quality=_int_option(options, "q", 100),
        dpr=_match_option(options, "dpr", _DPR, "a number from 1 to 4 like 1, 1.5 or 2",
                          float),
        version=_match_option(options, "v", _VERSION, "8 to 64 lowercase hex digits", str),
        expires=_match_option(options, "exp", _UNIX_S, "unix seconds", int),
        debug=_match_option(options, "debug", re.compile("1"), "1", str) is not None,
    )
    _check_output_size(spec, limits)
    return spec


def _check_text(key: str, value: str, limits: Limits) -> None:
    # Lone surrogates make Pango fail (DESIGN security facts); U+FFFD is what yarl and urllib
    # leave of invalid UTF-8 in the URL. Both are refused here, before anything renders them.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue(f"{key}: not valid Unicode", field=key) from None
    if "\ufffd" in value:
        raise InvalidValue(f"{key}: not valid UTF-8", field=key)
    if len(value) > limits.max_text_length:
        raise InvalidValue(f"{key}: longer than {limits.max_text_length} characters", field=key)


def _match_option(options: Mapping[str, str], name: str, pattern: re.Pattern[str],
                     expected: str, convert: Callable[[str], _T]) -> _T | None:
    raw = options.get(name)
    if raw is None:
        return None
    if not pattern.fullmatch(raw):
        raise InvalidValue(f"{name}: expected {expected}", field=name)
    return convert(raw)


def _int_option(options: Mapping[str, str], name: str, maximum: int) -> int | None:
    value = _match_option(options, name, _POSITIVE_INT, f"an integer from 1 to {maximum}", int)
    if value is not None and value > maximum:
        raise InvalidValue(f"{name}: expected an integer from 1 to {maximum}", field=name)
    return value


def _check_output_size(spec: RenderSpec, limits: Limits) -> None:
    # Only what the URL alone decides; the renderer checks sizes that follow from the template.
    scale = 1.0 if spec.dpr is None else spec.dpr
    for name, side in (("w", spec.width), ("h", spec.height)):
        if side is not None and side * scale > limits.max_output_side:
            raise InvalidValue(f"{name}: {name} x dpr exceeds {limits.max_output_side} pixels",
                               field=name)
    if spec.width is not None and spec.height is not None and (
            spec.width * spec.height * scale * scale > limits.max_output_pixels):
        raise InvalidValue(f"w x h x dpr^2 exceeds {limits.max_output_pixels} pixels", field="w")
