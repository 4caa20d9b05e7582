"""TOML file -> Template. Every error names the file, the layer or variable, and the reason."""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..errors import TemplateError
from . import markup
from .colors import parse_color
from .model import (
    FORMATS,
    BarcodeLayer,
    Box,
    Gradient,
    GroupLayer,
    Highlight,
    ImageLayer,
    Layer,
    Outline,
    QrLayer,
    RectLayer,
    Shadow,
    SvgLayer,
    Template,
    TextLayer,
    Variable,
)
from .refs import references
from .symbols import barcode_matrix

NAME_RE = r"[a-z0-9][a-z0-9-]{0,63}"
VARIABLE_TYPES = ("text", "color", "image", "number", "choice", "boolean")
RESERVED_NAMES = frozenset({"w", "h", "q", "dpr", "v", "exp", "debug"})
MAX_CANVAS_SIDE = 8192
MAX_LOCAL_FILE_BYTES = 20 * 1024 * 1024
GRADIENT_ANGLES = b"\0gradient-angles:css"
MAX_GROUP_DEPTH = 8
# Part of every version: change it when the same file draws differently for every template
# (new shipped fonts turned tofu into glyphs in 2026-12), so no cache keeps the old pixels.
DRAWING_EPOCH = b"\0drawing:2026-12-script-fonts"

T = TypeVar("T")


class _Ctx:
    """Where we are in the file, for error messages: `social-card.toml: layers[2].font`."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.palette: dict[str, str] = {}

    def fail(self, where: str, reason: str) -> TemplateError:
        return TemplateError(f"{self.file}: {where}" if where else self.file, reason)


def _get(
    ctx: _Ctx,
    where: str,
    table: Mapping[str, Any],
    key: str,
    kind: type[T] | tuple[type, ...],
    default: Any = ...,
) -> Any:
    if key not in table:
        if default is ...:
            raise ctx.fail(f"{where}.{key}" if where else key, "is required")
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a TOML `true` is never a number here.
    if isinstance(value, bool) and bool not in kinds:
        raise ctx.fail(
            f"{where}.{key}" if where else key, f"expected {_kinds(kinds)}, got {value!r}"
        )
    if not isinstance(value, kinds):
        raise ctx.fail(
            f"{where}.{key}" if where else key, f"expected {_kinds(kinds)}, got {value!r}"
        )
    return value


def _kinds(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "an array",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_keys(ctx: _Ctx, where: str, table: Mapping[str, Any], allowed: Collection[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ctx.fail(
                f"{where}.{key}" if where else key,
                f"unknown key (allowed: {', '.join(sorted(allowed))})",
            )


def _box(ctx: _Ctx, where: str, raw: Any, size: tuple[int, int]) -> Box:
    if (
        not isinstance(raw, list)
        or len(raw) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
    ):
        raise ctx.fail(f"{where}.box", "expected [x, y, width, height] as integers")
    x, y, w, h = raw
    if w <= 0 or h <= 0:
        raise ctx.fail(f"{where}.box", "width and height must be positive")
    if x < 0 or y < 0 or x + w > size[0] or y + h > size[1]:
        raise ctx.fail(f"{where}.box", f"{raw} is not inside the {size[0]}x{size[1]} canvas")
    return (x, y, w, h)


def _colour_or_ref(ctx: _Ctx, where: str, value: str, variables: Mapping[str, Variable]) -> str:
    refs = references(value)
    if refs:
        for name in refs:
            var = variables.get(name)
            if var is None:
                raise ctx.fail(where, f"references undefined variable {{{name}}}")
            if var.type not in ("color", "choice", "text"):
                raise ctx.fail(where, f"{{{name}}} is a {var.type} variable, not a colour")
        return str(value)
    try:
        parse_color(value)
    except ValueError as exc:
        raise ctx.fail(where, str(exc)) from None
    return value


def _paint(ctx: _Ctx, where: str, raw: Mapping[str, Any], variables: Mapping[str, Variable], *,
           fill_default: str | None) -> tuple[str | None, str | None, int, int]:
    """The fill, stroke, radius and stroke width a rect and a group's background share."""
    fill = _get(ctx, where, raw, "fill", str, fill_default)
    if fill is not None:
        fill = _colour_or_ref(ctx, f"{where}.fill", fill, variables)
    stroke = _get(ctx, where, raw, "stroke", str, None)
    if stroke is not None:
        stroke = _colour_or_ref(ctx, f"{where}.stroke", stroke, variables)
    radius = _get(ctx, where, raw, "radius", int, 0)
    stroke_width = _get(ctx, where, raw, "stroke_width", int, 1 if stroke else 0)
    if radius < 0 or stroke_width < 0:
        raise ctx.fail(where, "radius and stroke_width must not be negative")
    return fill, stroke, radius, stroke_width


def _refs_defined(ctx: _Ctx, where: str, value: str, variables: Mapping[str, Variable]) -> None:
    for name in references(value):
        if name not in variables:
            raise ctx.fail(where, f"references undefined variable {{{name}}}")


def _variable(ctx: _Ctx, name: str, raw: Any, base_dir: Path, files: dict[str, bytes]) -> Variable:
    where = f"variables.{name}"
    if not isinstance(raw, dict):
        raise ctx.fail(where, "expected a table")
    if name in RESERVED_NAMES:
        raise ctx.fail(where, f"{name!r} is a reserved output option name")
    if not name.isidentifier() or not name.isascii():
        raise ctx.fail(where, "variable names are ASCII letters, digits and _")
    _check_keys(
        ctx,
        where,
        raw,
        (
            "type",
            "default",
            "optional",
            "description",
            "max_length",
            "min",
            "max",
            "choices",
            "fallback",
            "allow_svg",
            "markup",
        ),
    )
    vtype = _get(ctx, where, raw, "type", str)
    if vtype not in VARIABLE_TYPES:
        raise ctx.fail(
            f"{where}.type", f"unknown type {vtype!r} (one of {', '.join(VARIABLE_TYPES)})"
        )
    fields: dict[str, Any] = {
        "name": name,
        "type": vtype,
        "optional": _get(ctx, where, raw, "optional", bool, False),
        "description": _get(ctx, where, raw, "description", str, ""),
    }
    if vtype == "text":
        fields["markup"] = _get(ctx, where, raw, "markup", bool, False)
        max_length = _get(ctx, where, raw, "max_length", int, 200)
        if max_length < 1:
            raise ctx.fail(f"{where}.max_length", "must be at least 1")
        fields["max_length"] = max_length
    if vtype == "number":
        lo = _get(ctx, where, raw, "min", (int, float), None)
        hi = _get(ctx, where, raw, "max", (int, float), None)
        if lo is not None and hi is not None and lo > hi:
            raise ctx.fail(where, "min is greater than max")
        fields["min"], fields["max"] = lo, hi
    if vtype == "choice":
        choices = _get(ctx, where, raw, "choices", list)
        if not choices or not all(isinstance(c, str) and c for c in choices):
            raise ctx.fail(f"{where}.choices", "expected a non-empty array of strings")
        fields["choices"] = tuple(choices)
    if vtype == "image":
        fallback = _get(ctx, where, raw, "fallback", str, None)
        if fallback is not None:
            _read_local(ctx, f"{where}.fallback", fallback, base_dir, files)
        fields["fallback"] = fallback
        fields["allow_svg"] = _get(ctx, where, raw, "allow_svg", bool, False)
    for key in ("max_length", "min", "max", "choices", "fallback", "allow_svg", "markup"):
        if key in raw and key not in fields:
            raise ctx.fail(f"{where}.{key}", f"does not apply to a {vtype} variable")
    var = Variable(**fields)
    if "default" in raw:
        from .values import coerce_one  # values imports model only; no cycle at import time

        default = raw["default"]
        if not isinstance(default, (str, int, float, bool)):
            raise ctx.fail(f"{where}.default", "expected a string, number or boolean")
        try:
            typed = coerce_one(
                var, str(default).lower() if isinstance(default, bool) else str(default)
            )
        except Exception as exc:
            reason = getattr(exc, "public", str(exc))
            raise ctx.fail(f"{where}.default", reason) from None
        var = Variable(**{**fields, "default": typed})
    return var


def _read_local(ctx: _Ctx, where: str, rel: str, base_dir: Path, files: dict[str, bytes]) -> str:
    """Read a template-relative file, refusing anything outside the template's folder."""
    path = (base_dir / rel).resolve()
    if base_dir.resolve() not in path.parents:
        raise ctx.fail(where, f"{rel!r} is outside the templates folder")
    if not path.is_file():
        raise ctx.fail(where, f"file not found: {rel}")
    if path.stat().st_size > MAX_LOCAL_FILE_BYTES:
        raise ctx.fail(where, f"{rel} is larger than {MAX_LOCAL_FILE_BYTES} bytes")
    files[rel] = path.read_bytes()
    return rel


def _gradient(ctx: _Ctx, where: str, raw: Any, variables: Mapping[str, Variable]) -> Gradient:
    if not isinstance(raw, dict):
        raise ctx.fail(where, 'expected a table { angle = 90, stops = [[0, "#fff"], [1, "#000"]] }')
    _check_keys(ctx, where, raw, ("angle", "stops"))
    angle = float(_get(ctx, where, raw, "angle", (int, float), 0))
    stops_raw = _get(ctx, where, raw, "stops", list)
    stops: list[tuple[float, str]] = []
    for i, stop in enumerate(stops_raw):
        swhere = f"{where}.stops[{i}]"
        if (
            not isinstance(stop, list)
            or len(stop) != 2
            or isinstance(stop[0], bool)
            or not isinstance(stop[0], (int, float))
            or not isinstance(stop[1], str)
        ):
            raise ctx.fail(swhere, 'expected [position 0..1, "colour"]')
        if not 0 <= stop[0] <= 1:
            raise ctx.fail(swhere, "position must be between 0 and 1")
        stops.append((float(stop[0]), _colour_or_ref(ctx, swhere, stop[1], variables)))
    if len(stops) < 2:
        raise ctx.fail(f"{where}.stops", "needs at least two stops")
    if [p for p, _ in stops] != sorted(p for p, _ in stops):
        raise ctx.fail(f"{where}.stops", "positions must increase")
    return Gradient(angle_deg=angle, stops=tuple(stops))


_COMMON = ("type", "box", "when", "opacity", "anchor")
ANCHORS = ("fill", "centre", "north", "south", "east", "west", "north-east", "north-west",
           "south-east", "south-west")
_CODE_KEYS = ("value", "color", "background", "quiet_zone", "min_module")
_LAYER_KEYS = {
    "rect": _COMMON + ("fill", "gradient", "radius", "stroke", "stroke_width"),
    "text": _COMMON
    + (
        "text",
        "font",
        "size",
        "min_size",
        "max_lines",
        "color",
        "align",
        "valign",
        "line_height",
        "letter_spacing",
        "uppercase",
        "case",
        "shadow",
        "outline",
        "highlight",
    ),
    "image": _COMMON + ("src", "fit", "gravity", "mask", "radius", "tint"),
    "svg": _COMMON + ("src", "svg"),
    "qr": _COMMON + _CODE_KEYS + ("error",),
    "group": _COMMON + ("children", "direction", "gap", "padding", "align", "justify", "wrap",
                        "fill", "radius", "stroke", "stroke_width"),
    "barcode": _COMMON + _CODE_KEYS + ("symbology",),
}


def _layer(
    ctx: _Ctx,
    index: int,
    raw: Any,
    size: tuple[int, int],
    variables: Mapping[str, Variable],
    base_dir: Path,
    files: dict[str, bytes],
    font_ok: Callable[[str], bool] | None,
    parent: str | None = None,
    depth: int = 0,
) -> Layer:
    where = f"{parent}.children[{index}]" if parent else f"layers[{index}]"
    if not isinstance(raw, dict):
        raise ctx.fail(where, "expected a table")
    kind = _get(ctx, where, raw, "type", str)
    if kind not in _LAYER_KEYS:
        raise ctx.fail(
            f"{where}.type", f"unknown layer type {kind!r} (one of {', '.join(_LAYER_KEYS)})"
        )
    if parent is None:
        _check_keys(ctx, where, raw, _LAYER_KEYS[kind])
        box = _box(ctx, where, raw.get("box"), size)
    else:
        # in a group the flow places the child: it has a size (or none: from its content)
        keys = [k for k in _LAYER_KEYS[kind] if k not in ("box", "anchor")]
        _check_keys(ctx, where, raw, (*keys, "width", "height", "grow"))
        box = _child_box(ctx, where, kind, raw, size)
    when = _get(ctx, where, raw, "when", str, None)
    if when is not None and when.lstrip("!") not in variables:
        raise ctx.fail(f"{where}.when", f"undefined variable {when.lstrip('!')!r}")
    opacity = float(_get(ctx, where, raw, "opacity", (int, float), 1.0))
    if not 0 <= opacity <= 1:
        raise ctx.fail(f"{where}.opacity", "must be between 0 and 1")
    common: dict[str, Any] = {"box": box, "when": when, "opacity": opacity}

    def choice(key: str, options: tuple[str, ...], default: str, *, ref: bool = False) -> str:
        value = _get(ctx, where, raw, key, str, default)
        if ref and references(value):
            return _choice_ref(ctx, f"{where}.{key}", value, options, variables)
        aliases = {"center": "centre", "middle": "middle"}
        value = aliases.get(value, value) if key != "valign" else value
        if value not in options:
            raise ctx.fail(f"{where}.{key}", f"{value!r} is not one of {', '.join(options)}")
        return str(value)

    common["anchor"] = choice("anchor", ANCHORS, "north-west")
    if parent is not None:
        common["grow"] = float(_get(ctx, where, raw, "grow", (int, float), 0))

    if kind == "rect":
        gradient = (
            _gradient(ctx, f"{where}.gradient", raw["gradient"], variables)
            if "gradient" in raw
            else None
        )
        fill, stroke, radius, stroke_width = _paint(
            ctx, where, raw, variables, fill_default=None if gradient else "#000000")
        return RectLayer(
            **common,
            fill=fill,
            gradient=gradient,
            radius=radius,
            stroke=stroke,
            stroke_width=stroke_width,
        )
    if kind == "text":
        text = _get(ctx, where, raw, "text", str)
        _refs_defined(ctx, f"{where}.text", text, variables)
        font = _get(ctx, where, raw, "font", str, "Inter")
        if font_ok is not None and not font_ok(font):
            raise ctx.fail(f"{where}.font", f"font {font!r} is not shipped in templates/fonts")
        size_px = _get(ctx, where, raw, "size", int, 32)
        min_size = _get(ctx, where, raw, "min_size", int, None)
        if not 4 <= size_px <= 1000:
            raise ctx.fail(f"{where}.size", "must be between 4 and 1000")
        if min_size is not None and not 4 <= min_size <= size_px:
            raise ctx.fail(f"{where}.min_size", f"must be between 4 and size ({size_px})")
        max_lines = _get(ctx, where, raw, "max_lines", int, None)
        if max_lines is not None and max_lines < 1:
            raise ctx.fail(f"{where}.max_lines", "must be at least 1")
        line_height = float(_get(ctx, where, raw, "line_height", (int, float), 1.2))
        if not 0.5 <= line_height <= 4 or not math.isfinite(line_height):
            raise ctx.fail(f"{where}.line_height", "must be between 0.5 and 4")
        return TextLayer(
            **common,
            text=text,
            font=font,
            size=size_px,
            min_size=min_size,
            max_lines=max_lines,
            color=_colour_or_ref(
                ctx, f"{where}.color", _get(ctx, where, raw, "color", str, "#000000"), variables
            ),
            align=choice("align", ("left", "centre", "right"), "left"),  # type: ignore[arg-type]
            valign=choice("valign", ("top", "middle", "bottom"), "top"),  # type: ignore[arg-type]
            line_height=line_height,
            letter_spacing=float(_get(ctx, where, raw, "letter_spacing", (int, float), 0.0)),
            uppercase=_get(ctx, where, raw, "uppercase", bool, False),
            **_text_style(ctx, where, raw, text, variables),
        )
    if kind == "image":
        src = _get(ctx, where, raw, "src", str)
        refs = references(src)
        if refs:
            if src.strip() != "{" + next(iter(refs)) + "}" or len(refs) != 1:
                raise ctx.fail(f"{where}.src", "is either one {variable} or a local file path")
            name = next(iter(refs))
            if name not in variables:
                raise ctx.fail(f"{where}.src", f"references undefined variable {{{name}}}")
            if variables[name].type != "image":
                raise ctx.fail(
                    f"{where}.src", f"{{{name}}} is a {variables[name].type} variable, not an image"
                )
        else:
            _read_local(ctx, f"{where}.src", src, base_dir, files)
        tint = _get(ctx, where, raw, "tint", str, None)
        if tint is not None:
            tint = _colour_or_ref(ctx, f"{where}.tint", tint, variables)
        radius = _get(ctx, where, raw, "radius", int, 0)
        if radius < 0:
            raise ctx.fail(f"{where}.radius", "must not be negative")
        return ImageLayer(
            **common,
            src=src,
            tint=tint,
            radius=radius,
            fit=choice(  # type: ignore[arg-type]
                "fit", ("cover", "contain", "fill"), "cover", ref=True),
            gravity=choice(
                "gravity",
                (
                    "centre",
                    "north",
                    "south",
                    "east",
                    "west",
                    "north-east",
                    "north-west",
                    "south-east",
                    "south-west",
                    "smart",
                ),
                "centre",
                ref=True,
            ),  # type: ignore[arg-type]
            mask=choice("mask", ("none", "circle"), "none"),  # type: ignore[arg-type]
        )
    if kind in ("qr", "barcode"):
        return _code_layer(ctx, where, kind, raw, common, variables)
    if kind == "group":
        if depth >= MAX_GROUP_DEPTH:
            raise ctx.fail(where, f"groups nest at most {MAX_GROUP_DEPTH} deep")
        children_raw = _get(ctx, where, raw, "children", list)
        children = tuple(
            _layer(ctx, i, child, size, variables, base_dir, files, font_ok, where, depth + 1)
            for i, child in enumerate(children_raw))
        return _group_layer(ctx, where, raw, common, variables, children)
    # svg: inline `svg = "<svg ...>"` or a local `src = "art/badge.svg"`
    if ("svg" in raw) == ("src" in raw):
        raise ctx.fail(where, "an svg layer needs exactly one of `svg` (inline) or `src` (file)")
    if "src" in raw:
        rel = _read_local(ctx, f"{where}.src", _get(ctx, where, raw, "src", str), base_dir, files)
        try:
            svg = files[rel].decode("utf-8")
        except UnicodeDecodeError:
            raise ctx.fail(f"{where}.src", f"{rel} is not UTF-8 text") from None
    else:
        svg = _get(ctx, where, raw, "svg", str)
    _refs_defined(ctx, f"{where}.svg", svg, variables)
    return SvgLayer(**common, svg=svg)


def _effect(ctx: _Ctx, where: str, raw: Any, keys: dict[str, tuple[type, ...]],
            variables: Mapping[str, Variable]) -> dict[str, Any]:
    """An effect's table (`shadow = { color = "#0008", dy = 3 }`): known keys, numbers >= 0
    (offsets may be negative), colours that parse or name a colour variable (`{accent}`)."""
    if not isinstance(raw, dict):
        raise ctx.fail(where, "expected a table")
    _check_keys(ctx, where, raw, keys)
    out: dict[str, Any] = {}
    for key, kinds in keys.items():
        if key not in raw:
            continue
        value = _get(ctx, where, raw, key, kinds)
        if key == "color":
            value = _colour_or_ref(ctx, f"{where}.color", value, variables)
        elif key == "padding":
            if (not isinstance(value, list) or len(value) != 2 or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 200
                    for v in value)):
                raise ctx.fail(f"{where}.padding", "expected [vertical, horizontal] px, 0..200")
            value = (value[0], value[1])
        elif not -200 <= value <= 200 or (key in ("blur", "width") and value < 0):
            raise ctx.fail(f"{where}.{key}", "is out of range")
        out[key] = value
    return out


def _text_style(ctx: _Ctx, where: str, raw: Mapping[str, Any], text: str,
                variables: Mapping[str, Variable]) -> dict[str, Any]:
    """Case, effects and inline styles of a text layer."""
    palette = ctx.palette
    case = _get(ctx, where, raw, "case", str, "none")
    if case not in ("none", "upper", "lower", "title"):
        raise ctx.fail(f"{where}.case", f"{case!r} is not one of none, upper, lower, title")
    number = (int, float)
    out: dict[str, Any] = {"case": case}
    if "shadow" in raw:
        out["shadow"] = Shadow(**_effect(ctx, f"{where}.shadow", raw["shadow"], {
            "color": (str,), "dx": number, "dy": number, "blur": number}, variables))
    if "outline" in raw:
        out["outline"] = Outline(**_effect(ctx, f"{where}.outline", raw["outline"], {
            "color": (str,), "width": number}, variables))
    if "highlight" in raw:
        out["highlight"] = Highlight(**_effect(ctx, f"{where}.highlight", raw["highlight"], {
            "color": (str,), "padding": (list,)}, variables))
    marked = [n for n in references(text) if n in variables and variables[n].markup]
    if markup.tags_in(text, palette) or marked:
        reason = markup.check(text, palette)
        if reason is not None:
            raise ctx.fail(f"{where}.text", reason)
        out["rich"] = True
    return out


def _palette(ctx: _Ctx, raw: Any) -> dict[str, str]:
    """`palette = { brand = "#38bdf8" }`: colour names inline styles may use as tags."""
    if not isinstance(raw, dict):
        raise ctx.fail("palette", "expected a table of colour names")
    palette: dict[str, str] = {}
    for name, value in raw.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,31}", name) or name in markup.STYLE_TAGS:
            raise ctx.fail(f"palette.{name}", "names are letters, digits, _ and - (not b, i, u, s)")
        if not isinstance(value, str):
            raise ctx.fail(f"palette.{name}", "expected a colour string")
        try:
            parse_color(value)
        except ValueError as exc:
            raise ctx.fail(f"palette.{name}", str(exc)) from None
        palette[name] = value
    return palette


def _child_box(ctx: _Ctx, where: str, kind: str, raw: Mapping[str, Any],
               size: tuple[int, int]) -> Box:
    """(0, 0, width, height) of a group's child; 0 takes the side from the content."""
    sides = []
    for key, limit in (("width", size[0]), ("height", size[1])):
        value = _get(ctx, where, raw, key, int, 0)
        if not 0 <= value <= limit:
            raise ctx.fail(f"{where}.{key}", f"must be between 1 and {limit}")
        sides.append(value)
    if kind in ("image", "svg", "qr", "barcode") and 0 in sides:
        raise ctx.fail(where, f"a {kind} in a group needs a width and a height")
    grow = _get(ctx, where, raw, "grow", (int, float), 0)
    if not 0 <= grow <= 100:
        raise ctx.fail(f"{where}.grow", "must be between 0 and 100")
    return (0, 0, sides[0], sides[1])


def _group_layer(ctx: _Ctx, where: str, raw: Mapping[str, Any], common: dict[str, Any],
                 variables: Mapping[str, Variable], children: tuple[Layer, ...]) -> Layer:
    """A `group`: flow settings, an optional background, and its children."""

    def pick(key: str, options: tuple[str, ...], default: str) -> str:
        value = _get(ctx, where, raw, key, str, default)
        value = "centre" if value == "center" else value
        if value not in options:
            raise ctx.fail(f"{where}.{key}", f"{value!r} is not one of {', '.join(options)}")
        return str(value)

    gap = _get(ctx, where, raw, "gap", int, 0)
    if not 0 <= gap <= MAX_CANVAS_SIDE:
        raise ctx.fail(f"{where}.gap", "must not be negative")
    padding_raw = _get(ctx, where, raw, "padding", (int, list), 0)
    if isinstance(padding_raw, int):
        padding_raw = [padding_raw]
    if (len(padding_raw) not in (1, 2, 4) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in padding_raw)):
        raise ctx.fail(f"{where}.padding", "expected px, [vertical, horizontal] or "
                       "[top, right, bottom, left], none negative")
    padding = (padding_raw * 4)[:4] if len(padding_raw) == 1 else (
        padding_raw * 2 if len(padding_raw) == 2 else padding_raw)
    fill, stroke, radius, stroke_width = _paint(ctx, where, raw, variables, fill_default=None)
    return GroupLayer(
        **common,
        direction=pick("direction", ("row", "column"), "column"),  # type: ignore[arg-type]
        gap=gap,
        padding=(padding[0], padding[1], padding[2], padding[3]),
        align=pick("align", ("start", "centre", "end", "stretch"), "start"),  # type: ignore[arg-type]
        justify=pick("justify", ("start", "centre", "end", "space-between"),  # type: ignore[arg-type]
                     "start"),
        wrap=_get(ctx, where, raw, "wrap", bool, False),
        fill=fill, radius=radius, stroke=stroke, stroke_width=stroke_width,
        children=children,
    )


def _choice_ref(ctx: _Ctx, where: str, value: str, options: tuple[str, ...],
                variables: Mapping[str, Variable]) -> str:
    """`"{name}"` of a choice variable whose every choice is one of `options`."""
    name = next(iter(references(value)))
    var = variables.get(name)
    if value.strip() != "{" + name + "}" or var is None or var.type != "choice":
        raise ctx.fail(where, "is one of its values or one {choice_variable}")
    wrong = [c for c in var.choices if c not in options]
    if wrong:
        raise ctx.fail(where, f"choice {wrong[0]!r} of {{{name}}} is not one of "
                       f"{', '.join(options)}")
    return value.strip()


def _code_layer(ctx: _Ctx, where: str, kind: str, raw: Mapping[str, Any],
                common: dict[str, Any], variables: Mapping[str, Variable]) -> Layer:
    """A `qr` or `barcode` layer: value, colours, quiet zone, level or symbology."""
    value = _get(ctx, where, raw, "value", str)
    _refs_defined(ctx, f"{where}.value", value, variables)
    color = _colour_or_ref(ctx, f"{where}.color", _get(ctx, where, raw, "color", str, "#000000"),
                           variables)
    background = _colour_or_ref(ctx, f"{where}.background",
                                _get(ctx, where, raw, "background", str, "#ffffff"), variables)
    quiet_zone = _get(ctx, where, raw, "quiet_zone", int, 4 if kind == "qr" else 10)
    if not 0 <= quiet_zone <= 40:
        raise ctx.fail(f"{where}.quiet_zone", "must be between 0 and 40 modules")
    min_module = float(_get(ctx, where, raw, "min_module", (int, float), 1.0))
    if not 0.25 <= min_module <= 100:
        raise ctx.fail(f"{where}.min_module", "must be between 0.25 and 100 px")
    fields: dict[str, Any] = {**common, "value": value, "color": color,
                              "background": background, "quiet_zone": quiet_zone,
                              "min_module": min_module}
    if kind == "qr":
        error = _get(ctx, where, raw, "error", str, "M").upper()
        if error not in ("L", "M", "Q", "H"):
            raise ctx.fail(f"{where}.error", f"{error!r} is not one of L, M, Q, H")
        return QrLayer(**fields, error=error)
    symbology = _get(ctx, where, raw, "symbology", str, "code128")
    if symbology not in ("ean13", "code128"):
        raise ctx.fail(f"{where}.symbology", f"{symbology!r} is not one of ean13, code128")
    if not references(value):
        # a fixed value is checked now, not on the first request
        try:
            barcode_matrix(value, symbology)
        except ValueError as exc:
            raise ctx.fail(f"{where}.value", str(exc)) from None
    return BarcodeLayer(**fields, symbology=symbology)


def _has_gradient(layers: tuple[Layer, ...]) -> bool:
    """A gradient rect anywhere, inside groups too."""
    return any((isinstance(layer, RectLayer) and layer.gradient is not None)
               or _has_gradient(getattr(layer, "children", ()))
               for layer in layers)


def load_template(path: Path, *, font_ok: Callable[[str], bool] | None = None) -> Template:
    """Parse and validate one template file; raise TemplateError naming what is wrong."""
    ctx = _Ctx(path.name)
    name = path.stem
    import re

    if not re.fullmatch(NAME_RE, name):
        raise ctx.fail("", f"template name {name!r} must match {NAME_RE}")
    try:
        source = path.read_bytes()
        data = tomllib.loads(source.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ctx.fail("", f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ctx.fail("", f"invalid TOML: {exc}") from None
    _check_keys(
        ctx, "", data,
        ("size", "background", "matte", "description", "formats", "variables", "layers",
         "follow", "palette"),
    )
    size_raw = _get(ctx, "", data, "size", list)
    if (
        len(size_raw) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size_raw)
        or not all(1 <= v <= MAX_CANVAS_SIDE for v in size_raw)
    ):
        raise ctx.fail("size", f"expected [width, height], each 1..{MAX_CANVAS_SIDE}")
    size = (size_raw[0], size_raw[1])
    base_dir = path.parent
    files: dict[str, bytes] = {}
    variables: dict[str, Variable] = {}
    for vname, vraw in _get(ctx, "", data, "variables", dict, {}).items():
        variables[vname] = _variable(ctx, vname, vraw, base_dir, files)
    background = _colour_or_ref(
        ctx, "background", _get(ctx, "", data, "background", str, "#00000000"), variables
    )
    matte = _colour_or_ref(ctx, "matte", _get(ctx, "", data, "matte", str, "#ffffff"), variables)
    formats = tuple(_get(ctx, "", data, "formats", list, list(FORMATS)))
    for fmt in formats:
        if fmt not in FORMATS:
            raise ctx.fail("formats", f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    palette = _palette(ctx, data.get("palette", {}))
    ctx.palette = palette  # text layers read it: their tags may name its colours
    layers_raw = _get(ctx, "", data, "layers", list, [])
    layers = tuple(
        _layer(ctx, i, raw, size, variables, base_dir, files, font_ok)
        for i, raw in enumerate(layers_raw)
    )
    digest = hashlib.sha256(source)
    digest.update(DRAWING_EPOCH)
    if _has_gradient(layers):
        # Gradient angles follow CSS since 2026-12 (they ran 90 degrees off before): the same
        # file draws differently, so it gets a new version (pinned URLs are never stale).
        digest.update(GRADIENT_ANGLES)
    for rel in sorted(files):
        digest.update(b"\0" + rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return Template(
        name=name,
        path=str(path),
        size=size,
        background=background,
        variables=variables,
        layers=layers,
        version=digest.hexdigest()[:16],
        formats=formats,
        description=_get(ctx, "", data, "description", str, ""),
        files=files,
        matte=matte,
        follow=_get(ctx, "", data, "follow", bool, False),
        palette=palette,
    )
