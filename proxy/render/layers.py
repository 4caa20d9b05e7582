"""DRAW: the dispatch table from layer type to its drawer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..template.model import BarcodeLayer, ImageLayer, QrLayer, RectLayer, SvgLayer, TextLayer
from .code import draw_code
from .context import DrawContext
from .effects import apply_effects
from .group import PlacedText, draw_placed_text
from .image import draw_image
from .patch import Patch
from .rect import draw_rect
from .svg import draw_svg
from .text import draw_text

DrawFn = Callable[[Any, DrawContext], "Patch | None"]


def _text(layer: TextLayer, ctx: DrawContext) -> Patch | None:
    before = len(ctx.fits)
    patch = draw_text(layer, layer.text, ctx)
    fit = ctx.fits[before] if len(ctx.fits) > before else None
    return apply_effects(layer, patch, fit, ctx)


DRAW: dict[type, DrawFn] = {
    RectLayer: draw_rect,
    TextLayer: _text,
    ImageLayer: draw_image,
    SvgLayer: draw_svg,
    QrLayer: draw_code,
    BarcodeLayer: draw_code,
}
# Text a group laid out is drawn through this same table (the pipeline flattens groups).
DRAW[PlacedText] = lambda layer, ctx: draw_placed_text(layer, ctx, DRAW)
