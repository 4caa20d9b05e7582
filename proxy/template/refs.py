"""`{variable}` references in template strings: find them and substitute values.

`{{` and `}}` are literal braces. Substitution is plain text; escaping for Pango or XML is the
caller's job (text.py escapes the whole string, svg values are XML-escaped before substitution).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .model import CodeLayer, GroupLayer, ImageLayer, Layer, RectLayer, TextLayer

_REF = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def references(text: str) -> set[str]:
    """Names referenced by `{name}` in `text`."""
    return {m.group(1) for m in _REF.finditer(text) if m.group(1)}


def has_refs(text: str | None) -> bool:
    """True when `text` references at least one variable."""
    return bool(text) and bool(references(text or ""))


def substitute(text: str, values: Mapping[str, str],
               escape: Callable[[str], str] | None = None,
               by_name: Callable[[str, str], str] | None = None) -> str:
    """Replace each `{name}` by `values[name]` (escaped by `escape`, or by `by_name(name,
    value)` when the escaping depends on the variable)."""

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = values.get(m.group(1), "")
        if by_name is not None:
            return by_name(m.group(1), value)
        return escape(value) if escape else value

    return _REF.sub(repl, text)


# Characters XML 1.0 forbids even escaped: a value holding one would make the SVG unparseable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_escape(value: str) -> str:
    """Escape a value for XML text or a quoted attribute; drop characters XML forbids."""
    value = _XML_INVALID.sub("", value)
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def layer_strings(layer: Layer) -> list[tuple[str, str]]:
    """(key, text) of every field of a layer that may hold `{variable}` references."""
    out: list[tuple[str, str]] = []
    if isinstance(layer, TextLayer):
        out += [("text", layer.text), ("color", layer.color)]
        out += [(f"{name}.color", effect.color) for name, effect in (
            ("shadow", layer.shadow), ("outline", layer.outline),
            ("highlight", layer.highlight)) if effect is not None]
    elif isinstance(layer, RectLayer):
        out += [("fill", layer.fill or ""), ("stroke", layer.stroke or "")]
        if layer.gradient is not None:
            out += [(f"gradient.stops[{i}]", c) for i, (_, c) in enumerate(layer.gradient.stops)]
    elif isinstance(layer, ImageLayer):
        out += [("src", layer.src), ("tint", layer.tint or ""), ("fit", layer.fit),
                ("gravity", layer.gravity)]
    elif isinstance(layer, GroupLayer):
        out += [("fill", layer.fill or ""), ("stroke", layer.stroke or "")]
        for i, child in enumerate(layer.children):
            if child.when is not None:
                # a child's `when` makes the group change per render like a reference does
                out.append((f"children[{i}].when", "{" + child.when.lstrip("!") + "}"))
            out += [(f"children[{i}].{key}", text) for key, text in layer_strings(child)]
    elif isinstance(layer, CodeLayer):
        out += [("value", layer.value), ("color", layer.color), ("background", layer.background)]
    else:
        out.append(("svg", layer.svg))
    return out
