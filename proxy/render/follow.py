"""A `follow` canvas: the template laid out again at the requested size (photo templates).

`/i/{sig}/photo.webp?src=...&w=600&h=400` gives a 600x400 canvas, not the template's size
stretched: each box moves by its `anchor`. `fill` scales the box with the canvas (the photo);
a gravity keeps the box's size and its offset from that side (a watermark in a corner).
"""

from __future__ import annotations

import dataclasses

from ..template.model import Box, Layer, Template

# (share of the added width, share of the added height) a box moves by, per anchor
_SHIFT: dict[str, tuple[float, float]] = {
    "north-west": (0.0, 0.0), "north": (0.5, 0.0), "north-east": (1.0, 0.0),
    "west": (0.0, 0.5), "centre": (0.5, 0.5), "east": (1.0, 0.5),
    "south-west": (0.0, 1.0), "south": (0.5, 1.0), "south-east": (1.0, 1.0),
}


def follow_size(template: Template, width: int | None, height: int | None) -> tuple[int, int]:
    """The canvas for a request: both sides as asked, one side with the template's aspect."""
    tw, th = template.size
    if width and height:
        return width, height
    if width:
        return width, max(1, round(th * width / tw))
    if height:
        return max(1, round(tw * height / th)), height
    return tw, th


def _moved(box: Box, anchor: str, old: tuple[int, int], new: tuple[int, int]) -> Box:
    x, y, w, h = box
    if anchor == "fill":
        # edges scale, so two boxes that touch keep touching
        sx, sy = new[0] / old[0], new[1] / old[1]
        x0, y0 = round(x * sx), round(y * sy)
        return x0, y0, max(1, round((x + w) * sx) - x0), max(1, round((y + h) * sy) - y0)
    fx, fy = _SHIFT[anchor]
    return round(x + (new[0] - old[0]) * fx), round(y + (new[1] - old[1]) * fy), w, h


def _layer_at(layer: Layer, old: tuple[int, int], new: tuple[int, int]) -> Layer:
    return dataclasses.replace(layer, box=_moved(layer.box, layer.anchor, old, new))


def follow(template: Template, size: tuple[int, int]) -> Template:
    """The template with canvas `size` and every box moved by its anchor (same version)."""
    if size == template.size:
        return template
    layers = tuple(_layer_at(layer, template.size, size) for layer in template.layers)
    return dataclasses.replace(template, size=size, layers=layers)
