"""A template as plain JSON-ready data: for `GET /v1/templates`, the CLI and the playground."""

from __future__ import annotations

from typing import Any

from .colors import to_hex
from .model import (
    BarcodeLayer,
    GroupLayer,
    ImageLayer,
    Layer,
    QrLayer,
    RectLayer,
    SvgLayer,
    Template,
    TextLayer,
    Variable,
)

_KINDS: dict[type, str] = {RectLayer: "rect", TextLayer: "text", ImageLayer: "image",
                           SvgLayer: "svg", QrLayer: "qr", BarcodeLayer: "barcode",
                           GroupLayer: "group"}


def plain_value(value: Any) -> Any:
    """A typed value as a person writes it: colours as #rrggbb(aa), whole numbers without .0."""
    if isinstance(value, tuple):
        return to_hex(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def describe_variable(var: Variable) -> dict[str, Any]:
    """Type, constraints and default of one variable."""
    out: dict[str, Any] = {"name": var.name, "type": var.type, "required": var.required,
                           "default": plain_value(var.default), "description": var.description}
    if var.max_length is not None:
        out["max_length"] = var.max_length
    if var.min is not None:
        out["min"] = plain_value(var.min)
    if var.max is not None:
        out["max"] = plain_value(var.max)
    if var.choices:
        out["choices"] = list(var.choices)
    if var.type == "image":
        out["has_fallback"] = var.fallback is not None
        out["allow_svg"] = var.allow_svg
    return out


def describe_layer(layer: Layer) -> dict[str, Any]:
    """A layer's type and, for a group, its children's (the playground lists them)."""
    out: dict[str, Any] = {"type": _KINDS[type(layer)]}
    if layer.when is not None:
        out["when"] = layer.when
    if isinstance(layer, GroupLayer):
        out["direction"] = layer.direction
        out["children"] = [describe_layer(child) for child in layer.children]
    return out


def describe_template(template: Template) -> dict[str, Any]:
    """Name, size, formats, version and variables of a template."""
    return {
        "name": template.name,
        "description": template.description,
        "width": template.size[0],
        "height": template.size[1],
        "formats": list(template.formats),
        "version": template.version,
        "variables": [describe_variable(v) for v in template.variables.values()],
        "follow": template.follow,     # the canvas takes the requested width and height
        "layers": [describe_layer(layer) for layer in template.layers],
    }
