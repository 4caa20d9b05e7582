"""Group layers: children measured (text by drawing it once), flowed, then drawn in place.

A child's size is its `width`/`height` when given; otherwise text hugs its lines (the ink's
width, the line boxes' height), a nested group hugs its children plus its padding, and
anything may `grow` along the main axis or stretch across it (`align = "stretch"`). Children
hidden by `when` (dropped when the layer is resolved) and empty text take no space.

Text is drawn exactly once: the patch made while measuring is moved into place, so a flowed
card costs the same Pango work as a fixed one. The drawer returns one patch per child; the
pipeline blends each over its own region.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..template.model import Box, GroupLayer, Layer, LayerBase, RectLayer, TextLayer, evolve
from .context import DrawContext, TextFit
from .flow import Flow, Item, Rect, content_size, place
from .patch import Patch

DrawFn = Callable[[Any, DrawContext], "Patch | None"]
_VALIGN = {"top": 0.0, "middle": 0.5, "bottom": 1.0}


@dataclass(frozen=True)
class Placed:
    """A child laid out: its rect (template px) and, for text and groups, what was drawn."""

    layer: Layer
    rect: Rect
    patches: tuple[Patch, ...] = ()   # text: (moved into place, as drawn at the origin)
    children: tuple[Placed, ...] = ()
    probe: TextLayer | None = None    # text: the layer as drawn in its measuring box


@dataclass(frozen=True)
class _Measured:
    """A child measured once: its flow item, the text drawn at the origin, a group's children."""

    layer: Layer
    item: Item
    patches: tuple[Patch, ...] = ()   # text: drawn in a box at the origin
    content_height: float = 0.0       # text: the line boxes' height
    children: tuple[_Measured, ...] = ()
    probe: TextLayer | None = None    # text: as drawn in its measuring box


def _flow(group: GroupLayer) -> Flow:
    return Flow(direction=group.direction, gap=group.gap, justify=group.justify,
                align=group.align, wrap=group.wrap)


def _inner(group: GroupLayer, width: float, height: float) -> tuple[float, float]:
    top, right, bottom, left = group.padding
    return max(0.0, width - left - right), max(0.0, height - top - bottom)


def _measure_text(layer: TextLayer, ctx: DrawContext, draw: Mapping[type, DrawFn],
                  avail_w: float, avail_h: float) -> _Measured | None:
    width = layer.box[2] or avail_w
    height = layer.box[3] or avail_h
    if layer.max_lines is not None and not layer.box[3]:
        # Past what max_lines can fill, the height left by the children above changes no line
        # break (the probe is top-aligned): without it, a title below a name that shrank was
        # laid out again for every height the name left.
        height = min(height, math.ceil(layer.max_lines * layer.line_height * layer.size) + 1)
    probe = evolve(layer, box=(0, 0, max(1, round(width)), max(1, round(height))),
                                valign="top")

    drawn, fit = _draw_once(probe, ctx, draw)
    if drawn is None or fit is None:
        return None                                # empty text takes no space
    lines_h = fit.lines * layer.line_height * fit.size
    hug_w = layer.box[2] == 0
    item = Item(width=drawn.image.width / ctx.scale if hug_w else width,
                height=layer.box[3] or lines_h, grow=layer.grow,
                stretch_width=hug_w, stretch_height=layer.box[3] == 0)
    return _Measured(layer, item, (drawn,), content_height=lines_h, probe=probe)


def _text_bytes(item: tuple[Patch | None, TextFit | None]) -> int:
    drawn = item[0]
    return 64 + (drawn.image.width * drawn.image.height * 4 if drawn is not None else 0)


def _draw_once(probe: TextLayer, ctx: DrawContext, draw: Mapping[type, DrawFn]
               ) -> tuple[Patch | None, TextFit | None]:
    """The text drawn at the origin of its measuring box, and its fit note (not yet noted).

    Measuring is drawing, and it is kept in the memo: the same text in the same box draws the
    same patch, so a repeated title or badge is laid out once, and the placed text that the
    pipeline draws later is this very patch, moved.
    """

    def make() -> tuple[Patch | None, TextFit | None]:
        before = len(ctx.fits)
        drawn = draw[TextLayer](probe, ctx)
        fit = ctx.fits[before] if len(ctx.fits) > before else None
        del ctx.fits[before:]
        return (drawn if isinstance(drawn, Patch) else None), fit

    if ctx.memo is None:
        return make()
    return ctx.memo.get_or_make(("group-text", probe, ctx.scale), make, _text_bytes)


def _measure_group(group: GroupLayer, ctx: DrawContext, draw: Mapping[type, DrawFn],
                   avail_w: float, avail_h: float) -> _Measured:
    """A nested group: its children measured in the space it may take, its size hugging them
    on each side it does not fix."""
    width = group.box[2] or avail_w
    height = group.box[3] or avail_h
    inner_w, inner_h = _inner(group, width, height)
    children = _measure_all(group, ctx, draw, inner_w, inner_h)
    limit = inner_w if group.direction == "row" else inner_h
    cw, ch = content_size(_flow(group), [m.item for m in children], limit)
    top, right, bottom, left = group.padding
    item = Item(group.box[2] or cw + left + right, group.box[3] or ch + top + bottom,
                grow=group.grow, stretch_width=group.box[2] == 0,
                stretch_height=group.box[3] == 0)
    return _Measured(group, item, children=tuple(children))


def _measure(layer: Layer, ctx: DrawContext, draw: Mapping[type, DrawFn],
             avail_w: float, avail_h: float) -> _Measured | None:
    if isinstance(layer, TextLayer):
        return _measure_text(layer, ctx, draw, avail_w, avail_h)
    if isinstance(layer, GroupLayer):
        return _measure_group(layer, ctx, draw, avail_w, avail_h)
    w, h = layer.box[2], layer.box[3]
    return _Measured(layer, Item(float(w), float(h), grow=layer.grow, stretch_width=w == 0,
                                 stretch_height=h == 0))


def _measure_all(group: GroupLayer, ctx: DrawContext, draw: Mapping[type, DrawFn],
                 inner_w: float, inner_h: float) -> list[_Measured]:
    """Children in order. Sized children keep their size; along a column each text or group
    gets the height the ones before it left, along a row an even share of the free width."""
    row = group.direction == "row"
    fluid = (TextLayer, GroupLayer)
    fixed_main = sum((c.box[2] if row else c.box[3]) for c in group.children
                     if not isinstance(c, fluid))
    shares = sum(1 for c in group.children if isinstance(c, fluid)) or 1
    gaps = group.gap * max(0, len(group.children) - 1)
    left = (inner_w if row else inner_h) - fixed_main - gaps
    measured: list[_Measured] = []
    for child in group.children:
        if row:
            avail_w = inner_w if group.wrap else max(1.0, left / shares)
            found = _measure(child, ctx, draw, avail_w, inner_h)
        else:
            found = _measure(child, ctx, draw, inner_w, max(1.0, left))
        if found is None:
            continue
        if not row and isinstance(child, fluid):
            left -= found.item.height
        measured.append(found)
    return measured


def layout(group: GroupLayer, children: list[_Measured] | tuple[_Measured, ...],
           rect: Rect, scale: float) -> Placed:
    """Place measured children in `rect` (template px); nested groups recursively."""
    x, y, width, height = rect
    top, _right, _bottom, left = group.padding
    inner_w, inner_h = _inner(group, width, height)
    rects = place(_flow(group), [m.item for m in children],
                  (x + left, y + top, inner_w, inner_h))
    placed: list[Placed] = []
    for m, child_rect in zip(children, rects, strict=True):
        if isinstance(m.layer, GroupLayer):
            placed.append(layout(m.layer, m.children, child_rect, scale))
        elif isinstance(m.layer, TextLayer) and m.patches and m.probe is not None:
            drawn = m.patches[0]
            placed.append(Placed(m.layer, child_rect,
                                 (_move_text(m, drawn, child_rect, scale), drawn),
                                 probe=m.probe))
        else:
            placed.append(Placed(m.layer, child_rect))
    return Placed(group, rect, (), tuple(placed))


def _move_text(m: _Measured, patch: Patch, rect: Rect, scale: float) -> Patch:
    """Move text drawn at the origin into its rect.

    Hugging text is placed by its ink, shifted by `align` when the rect is wider than the
    ink (stretch, grow); text with a `width` keeps where Pango put its lines in that width.
    """
    assert isinstance(m.layer, TextLayer)
    x, y, width, height = rect
    if m.layer.box[2] == 0:
        shift = {"left": 0.0, "centre": 0.5, "right": 1.0}[m.layer.align]
        left = (x + (width - m.item.width) * shift) * scale
    else:
        left = x * scale + patch.x
    top = (y + (height - m.content_height) * _VALIGN[m.layer.valign]) * scale + patch.y
    return Patch(patch.image, round(left), round(top))


def _box(rect: Rect) -> Box:
    x, y, w, h = rect
    x0, y0 = round(x), round(y)
    return x0, y0, max(0, round(x + w) - x0), max(0, round(y + h) - y0)


def _background(group: GroupLayer, rect: Rect) -> RectLayer | None:
    if group.fill is None and group.stroke is None:
        return None
    return RectLayer(box=_box(rect), fill=group.fill, radius=group.radius,
                     stroke=group.stroke, stroke_width=group.stroke_width)


@dataclass(frozen=True)
class PlacedText(LayerBase):
    """Text a group laid out: `probe` drawn at the origin of its measuring box, then moved by
    (dx_px, dy_px) output pixels. `box` is where the flow put it (for overlap checks)."""

    probe: TextLayer = TextLayer(box=(0, 0, 1, 1))
    dx_px: int = 0
    dy_px: int = 0
    part: str = ""                    # ".children[i]..." for explain, under the group's index


def draw_placed_text(layer: PlacedText, ctx: DrawContext, draw: Mapping[type, DrawFn]
                     ) -> Patch | None:
    """The group's measured text (from the memo when it was kept), moved into place."""
    drawn, fit = _draw_once(layer.probe, ctx, draw)
    if fit is not None:
        ctx.fits.append(evolve(fit, layer_index=ctx.layer_index, part=layer.part))
    if drawn is None:
        return None
    return Patch(drawn.image, drawn.x + layer.dx_px, drawn.y + layer.dy_px)


def _fade(layer: Layer, opacity: float) -> Layer:
    return layer if opacity >= 1 else evolve(layer,
                                                          opacity=layer.opacity * opacity)


def _flatten(node: Placed, opacity: float, path: str = "") -> list[Layer]:
    if isinstance(node.layer, GroupLayer):
        opacity *= node.layer.opacity
        parts: list[Layer] = []
        background = _background(node.layer, node.rect)
        if background is not None and background.box[2] > 0 and background.box[3] > 0:
            parts.append(_fade(background, opacity))
        for i, child in enumerate(node.children):
            parts += _flatten(child, opacity, f"{path}.children[{i}]")
        return parts
    box = _box(node.rect)
    if isinstance(node.layer, TextLayer):
        if not node.patches or not isinstance(node.probe, TextLayer):
            return []
        moved, drawn = node.patches
        text = _fade(node.probe, opacity)
        assert isinstance(text, TextLayer)
        # cast: a PlacedText is drawn through the same table as the template's own layers
        return [cast(Layer, PlacedText(box=box, probe=text, dx_px=moved.x - drawn.x,
                                       dy_px=moved.y - drawn.y, part=path))]
    if box[2] <= 0 or box[3] <= 0:
        return []
    return [_fade(evolve(node.layer, box=box), opacity)]


def place_group(group: GroupLayer, ctx: DrawContext, draw: Mapping[type, DrawFn]) -> Placed:
    """Measure the group's children in its box and lay them out (text drawn on the way)."""
    x, y, w, h = group.box
    inner_w, inner_h = _inner(group, w, h)
    children = _measure_all(group, ctx, draw, inner_w, inner_h)
    return layout(group, children, (x, y, w, h), ctx.scale)


def flatten_group(group: GroupLayer, ctx: DrawContext, draw: Mapping[type, DrawFn]
                  ) -> tuple[Layer, ...]:
    """The group as plain layers in place: its background, then each child, in order.

    The pipeline draws these like the template's own layers, so a part that repeats (a
    default title, the pill of one badge) joins the memoised base canvas and only what is new
    in a render is drawn and blended.
    """
    return tuple(_flatten(place_group(group, ctx, draw), 1.0))


def boxes(node: Placed) -> list[tuple[int, Box]]:
    """(depth, box) of the group and every descendant, for explain mode."""
    out = [(0, _box(node.rect))]
    for child in node.children:
        out += [(depth + 1, box) for depth, box in boxes(child)]
    return out
