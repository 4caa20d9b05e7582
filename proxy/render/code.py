"""QR code and barcode layers: module matrices drawn as vectors at the output's scale.

The modules become one SVG path rasterised by librsvg at the exact pixel size, with
`shape-rendering="crispEdges"` so module edges are sharp (what scanners read best) at any dpr.
A QR code is a square centred in its box; a barcode's bars fill the box height.
"""

from __future__ import annotations

import dataclasses

import pyvips

from ..errors import InvalidValue
from ..template.colors import parse_color
from ..template.model import BarcodeLayer, CodeLayer, QrLayer
from ..template.symbols import Matrix, barcode_matrix, qr_matrix
from .context import DrawContext
from .patch import Patch
from .rect import scaled_box, with_opacity


def _path(matrix: Matrix, quiet: int) -> str:
    """Runs of dark modules as one path, in module units, offset by the quiet zone."""
    parts: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            parts.append(f"M{start + quiet} {y + quiet}h{x - start}v1h{start - x}z")
    return "".join(parts)


def _fill(colour: str) -> str:
    r, g, b, a = parse_color(colour)
    return f'fill="#{r:02x}{g:02x}{b:02x}" fill-opacity="{a / 255:.4f}"'


def _svg(matrix: Matrix, layer: CodeLayer, width_px: int, height_px: int) -> bytes:
    quiet = layer.quiet_zone
    cols = len(matrix[0]) + 2 * quiet
    rows = len(matrix) + (2 * quiet if isinstance(layer, QrLayer) else 0)
    top = 0 if isinstance(layer, QrLayer) else -quiet   # barcodes have side quiet zones only
    path = _path(matrix, quiet)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height_px}" '
        f'viewBox="0 {-top} {cols} {rows}" preserveAspectRatio="none" '
        f'shape-rendering="crispEdges">'
        f'<rect x="0" y="{-top}" width="{cols}" height="{rows}" {_fill(layer.background)}/>'
        f'<path d="{path}" {_fill(layer.color)}/></svg>'
    ).encode()


def _matrix(layer: CodeLayer, where: str) -> Matrix:
    try:
        if isinstance(layer, QrLayer):
            return qr_matrix(layer.value, layer.error)
        assert isinstance(layer, BarcodeLayer)
        return barcode_matrix(layer.value, layer.symbology)
    except ValueError as exc:
        raise InvalidValue(f"{where}: {exc}") from None


def draw_code(layer: CodeLayer, ctx: DrawContext) -> Patch | None:
    """Draw a QR code (square, centred) or a barcode (full height) into the layer's box."""
    value = layer.value.strip()
    x, y, w, h = scaled_box(layer.box, ctx.scale)
    if not value or w <= 0 or h <= 0 or layer.opacity <= 0:
        return None
    kind = "qr" if isinstance(layer, QrLayer) else "barcode"
    where = f"layers[{ctx.layer_index}] ({kind})"
    matrix = _matrix(layer, where)
    cols = len(matrix[0]) + 2 * layer.quiet_zone
    if isinstance(layer, QrLayer):
        module_px = min(w, h) // cols          # whole pixels: every module the same size
        width_px = height_px = module_px * cols
    else:
        module_px = w // cols
        width_px, height_px = module_px * cols, h
    if module_px < max(1.0, layer.min_module * ctx.scale):
        box_w, box_h = layer.box[2], layer.box[3]
        need = cols * max(1.0, layer.min_module)
        raise InvalidValue(
            f"{where}: the code needs {cols} modules of at least {layer.min_module:g} px "
            f"({need:g} px) but the box is {box_w}x{box_h}")
    faded = layer
    if layer.opacity < 1:
        # fold opacity into the colours' alpha: free, unlike a per-pixel multiply
        faded = dataclasses.replace(
            layer, color=_hex(with_opacity(parse_color(layer.color), layer.opacity)),
            background=_hex(with_opacity(parse_color(layer.background), layer.opacity)))
    image = pyvips.Image.svgload_buffer(_svg(matrix, faded, width_px, height_px),
                                        unlimited=False)
    if image.bands != 4 or image.format != "uchar":
        image = image.colourspace("srgb").cast("uchar")
    return Patch(image, x + (w - width_px) // 2, y + (h - height_px) // 2)


def _hex(rgba: tuple[int, int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}{:02x}".format(*rgba)
