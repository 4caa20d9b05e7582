"""Raw strings -> typed values per Variable; `{name}` resolution of layers; `when`."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar, cast

from ..errors import InvalidValue
from . import markup
from .colors import parse_color, to_hex
from .model import (
    RGBA,
    CodeLayer,
    Fit,
    Gravity,
    GroupLayer,
    Highlight,
    ImageLayer,
    Layer,
    Outline,
    RectLayer,
    Shadow,
    SvgLayer,
    Template,
    TextLayer,
    Variable,
    evolve,
)
from .refs import substitute, xml_escape

_ASSET_RE = re.compile(r"asset:[0-9a-f]{16,64}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Values:
    """Typed values by variable name (missing optional ones are absent)."""

    typed: Mapping[str, object]

    def display(self, name: str) -> str:
        """The value as text for interpolation: colours as #hex, integral numbers as ints."""
        value = self.typed.get(name)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, tuple):
            return to_hex(value)
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        return str(value)

    def truthy(self, name: str) -> bool:
        """Whether a `when = "name"` layer is drawn."""
        value = self.typed.get(name)
        if value is None or value is False or value == "":
            return False
        return not (isinstance(value, str) and not value.strip())

    @cached_property
    def _strings(self) -> dict[str, str]:
        return {name: self.display(name) for name in self.typed}

    def strings(self) -> dict[str, str]:
        """Every value as display text (for substitution); computed once per Values."""
        return self._strings


def valid_unicode(text: str) -> str:
    """Re-pair split surrogate halves (JSON "\\ud83d\\ude00") and turn lone ones into U+FFFD."""
    # Lone surrogates make Pango raise (DESIGN.md security facts); replace, don't crash.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# Unicode's Cc category is exactly these 65 code points (C0, DEL and C1), newline kept:
# one regex pass, not a category lookup a character (tests/ compares it with unicodedata).
_CONTROLS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def clean_text(raw: str) -> str:
    """Normalise user text: valid Unicode, NFC, control characters dropped (but newlines)."""
    text = unicodedata.normalize("NFC", valid_unicode(raw))
    return _CONTROLS_BUT_NEWLINE.sub("", text)


def coerce_one(var: Variable, raw: str) -> object:
    """Turn one raw string into the variable's typed value, or raise InvalidValue."""
    name = var.name
    if var.type == "text":
        text = clean_text(raw)
        if var.max_length is not None and len(text) > var.max_length:
            raise InvalidValue(f"{name}: longer than {var.max_length} characters", field=name)
        return text
    if var.type == "color":
        try:
            rgba: RGBA = parse_color(raw)
        except ValueError as exc:
            raise InvalidValue(f"{name}: {exc}", field=name) from None
        return rgba
    if var.type == "number":
        try:
            number = float(raw)
        except ValueError:
            raise InvalidValue(f"{name}: not a number", field=name) from None
        if not math.isfinite(number):
            raise InvalidValue(f"{name}: not a finite number", field=name)
        if var.min is not None and number < var.min:
            raise InvalidValue(f"{name}: must be at least {var.min:g}", field=name)
        if var.max is not None and number > var.max:
            raise InvalidValue(f"{name}: must be at most {var.max:g}", field=name)
        return number
    if var.type == "choice":
        if raw not in var.choices:
            raise InvalidValue(f"{name}: must be one of {', '.join(var.choices)}", field=name)
        return raw
    if var.type == "boolean":
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise InvalidValue(f"{name}: expected true or false", field=name)
    # image: a remote URL or an uploaded asset; the sources wing validates further.
    ref = raw.strip()
    if ref == "":
        return ""
    if _ASSET_RE.fullmatch(ref) or ref.startswith(("http://", "https://")):
        if len(ref) > 4096:
            raise InvalidValue(f"{name}: image URL too long", field=name)
        return ref
    raise InvalidValue(f"{name}: expected an http(s) URL or asset:ID", field=name)


def coerce(template: Template, raw: Mapping[str, str]) -> Values:
    """Typed values for `template` from raw strings; unknown or missing names are errors."""
    for name in raw:
        if name not in template.variables:
            raise InvalidValue(f"{name}: unknown variable for template {template.name}",
                               field=name)
    typed: dict[str, object] = {}
    for name, var in template.variables.items():
        if name in raw:
            value = coerce_one(var, raw[name])
            if value == "" and var.type == "image" and var.default is not None:
                value = var.default
            typed[name] = value
        elif var.default is not None:
            typed[name] = var.default
        elif var.type == "image" and var.fallback is not None:
            typed[name] = ""
        elif not var.optional:
            raise InvalidValue(f"{name}: required", field=name)
    return Values(typed)


def is_drawn(layer: Layer, values: Values) -> bool:
    """Evaluate the layer's `when` (`name` or `!name`)."""
    if layer.when is None:
        return True
    negate = layer.when.startswith("!")
    shown = values.truthy(layer.when.lstrip("!"))
    return shown != negate


def resolve_layer(layer: Layer, values: Values, template: Template) -> Layer:
    """The layer with every `{name}` replaced by its value (SVG values XML-escaped)."""
    strings = values.strings()
    if isinstance(layer, TextLayer):
        text = substitute(layer.text, strings) if not layer.rich else _styled(layer, strings,
                                                                             template)
        return evolve(layer, text=text, color=substitute(layer.color, strings),
                                   shadow=_effect_colour(layer.shadow, strings),
                                   outline=_effect_colour(layer.outline, strings),
                                   highlight=_effect_colour(layer.highlight, strings))
    if isinstance(layer, RectLayer):
        gradient = layer.gradient
        if gradient is not None:
            gradient = evolve(gradient, stops=tuple(
                (pos, substitute(colour, strings)) for pos, colour in gradient.stops))
        return evolve(
            layer, gradient=gradient,
            fill=substitute(layer.fill, strings) if layer.fill else None,
            stroke=substitute(layer.stroke, strings) if layer.stroke else None)
    if isinstance(layer, ImageLayer):
        # fit and gravity may name a choice variable whose choices the loader checked
        return evolve(layer, src=image_key(layer.src, values, template),
                                   tint=substitute(layer.tint, strings) if layer.tint else None,
                                   fit=cast(Fit, substitute(layer.fit, strings)),
                                   gravity=cast(Gravity, substitute(layer.gravity, strings)))
    if isinstance(layer, GroupLayer):
        # children hidden by `when` are dropped here, so they take no space in the flow
        return evolve(
            layer, fill=substitute(layer.fill, strings) if layer.fill else None,
            stroke=substitute(layer.stroke, strings) if layer.stroke else None,
            children=tuple(resolve_layer(child, values, template) for child in layer.children
                           if is_drawn(child, values)))
    if isinstance(layer, CodeLayer):
        return evolve(layer, value=substitute(layer.value, strings),
                                   color=substitute(layer.color, strings),
                                   background=substitute(layer.background, strings))
    assert isinstance(layer, SvgLayer)
    return evolve(layer, svg=substitute(layer.svg, strings, xml_escape))


E = TypeVar("E", Shadow, Outline, Highlight)


def _effect_colour(effect: E | None, strings: Mapping[str, str]) -> E | None:
    """A text effect with its colour's `{variable}` replaced (a literal colour: as it is)."""
    if effect is None or "{" not in effect.color:
        return effect
    return evolve(effect, color=substitute(effect.color, strings))


def _styled(layer: TextLayer, strings: Mapping[str, str], template: Template) -> str:
    """Text with inline styles: values escaped (or, opted in, kept balanced), palette names
    turned into colours."""
    palette = template.palette

    def value(name: str, text: str) -> str:
        var = template.variables.get(name)
        if var is not None and var.markup:
            return markup.to_colours(text, palette, balance=True)
        return markup.escape(text)

    return markup.to_colours(substitute(layer.text, strings, by_name=value), palette)


def image_key(src: str, values: Values, template: Template) -> str:
    """The key of an image layer's source in a render's images.

    `local:<rel>` for a file shipped with the template (an empty value with a `fallback` uses
    the fallback's), otherwise the value itself (a URL or `asset:ID`); "" draws nothing.
    """
    if src.startswith("{") and src.endswith("}"):
        name = src[1:-1]
        value = values.display(name)
        fallback = template.variables[name].fallback
        if value == "" and fallback is not None:
            return "local:" + fallback
        return value
    return "local:" + src
