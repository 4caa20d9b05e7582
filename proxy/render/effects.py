"""Text effects drawn around a text patch: a highlight behind each line, an outline, a shadow.

They work on the patch the text drawer made (RGBA, straight alpha), so the fit is untouched:
the highlight is a rect per line box spanning that line's ink plus padding, the outline the
glyphs' alpha grown by its width, the shadow the glyphs' alpha blurred and offset. Each is a
layer under the text, composited once into a patch that grows by what the effects need.
"""

from __future__ import annotations

import math

import pyvips

from ..template.colors import parse_color
from ..template.model import TextLayer
from .context import DrawContext, TextFit
from .patch import Patch

_VALIGN = {"top": 0.0, "middle": 0.5, "bottom": 1.0}


def _tinted(alpha: pyvips.Image, colour: str) -> pyvips.Image:
    """A one-band coverage as an RGBA image of `colour`, its alpha scaled by the coverage."""
    r, g, b, a = parse_color(colour)
    cover = alpha.linear([a / 255], [0.0], uchar=True)
    rgb = pyvips.Image.black(alpha.width, alpha.height).new_from_image([r, g, b]).cast("uchar")
    return rgb.bandjoin(cover).copy(interpretation="srgb")


def _grown(alpha: pyvips.Image, radius_px: int) -> pyvips.Image:
    """The coverage grown by `radius_px`: the largest value in a (2r+1)-square window, which
    keeps the glyphs' antialiased edge one pixel soft."""
    size = 2 * radius_px + 1
    return alpha.rank(size, size, size * size - 1)


def _line_boxes(layer: TextLayer, fit: TextFit, patch: Patch, image: pyvips.Image,
                ctx: DrawContext, pad: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(left, top, width, height) in patch pixels of each line's ink, padded."""
    scale = ctx.scale
    lh = layer.line_height * fit.size * scale
    block = fit.lines * lh
    slack = layer.box[3] * scale - block
    first_top = layer.box[1] * scale + slack * _VALIGN[layer.valign] - patch.y
    pad_y, pad_x = round(pad[0] * scale), round(pad[1] * scale)
    boxes = []
    alpha = image[3]
    for k in range(fit.lines):
        top = max(0, math.floor(first_top + k * lh))
        bottom = min(image.height, math.ceil(first_top + (k + 1) * lh))
        if bottom <= top:
            continue
        columns, _rows = alpha.crop(0, top, image.width, bottom - top).project()
        inked = [x for x in range(columns.width) if columns(x, 0)[0] > 0]
        if not inked:
            continue
        boxes.append((inked[0] - pad_x, top - pad_y, inked[-1] + 1 - inked[0] + 2 * pad_x,
                      bottom - top + 2 * pad_y))
    return boxes


def apply_effects(layer: TextLayer, patch: Patch | None, fit: TextFit | None,
                  ctx: DrawContext) -> Patch | None:
    """The text patch with its layer's highlight, outline and shadow under it."""
    if patch is None or fit is None or not (layer.shadow or layer.outline or layer.highlight):
        return patch
    scale = ctx.scale
    image = patch.image
    margin = 0
    if layer.outline is not None:
        margin = max(margin, round(layer.outline.width * scale) + 1)
    if layer.shadow is not None:
        s = layer.shadow
        margin = max(margin, round((abs(s.dx) + abs(s.dy) + 2 * s.blur) * scale) + 2)
    if layer.highlight is not None:
        margin = max(margin, round(max(layer.highlight.padding) * scale) + 1)
    boxes = (_line_boxes(layer, fit, patch, image, ctx, layer.highlight.padding)
             if layer.highlight is not None else [])
    size = (image.width + 2 * margin, image.height + 2 * margin)
    text = image.embed(margin, margin, size[0], size[1])
    under: list[pyvips.Image] = []
    alpha = text[3]
    if layer.shadow is not None:
        s = layer.shadow
        shade = alpha.gaussblur(s.blur * scale / 2) if s.blur > 0 else alpha
        shade = shade.embed(round(s.dx * scale), round(s.dy * scale), size[0], size[1])
        under.append(_tinted(shade, s.color))
    if boxes:
        r, g, b, a = parse_color(layer.highlight.color)  # type: ignore[union-attr]
        marks = pyvips.Image.black(size[0], size[1])
        for left, top, width, height in boxes:
            marks = marks.draw_rect([255.0], left + margin, top + margin, width, height,
                                    fill=True)
        under.append(_tinted(marks.cast("uchar"), layer.highlight.color))  # type: ignore[union-attr]
    if layer.outline is not None:
        ring = _grown(alpha, max(1, round(layer.outline.width * scale)))
        under.append(_tinted(ring, layer.outline.color))
    out = under[0]
    for piece in under[1:] + [text]:
        out = out.composite2(piece, "over")
    out = out.cast("uchar").copy(interpretation="srgb")
    return Patch(out, patch.x - margin, patch.y - margin)
