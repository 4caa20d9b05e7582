"""Image layers: fit (cover, contain, fill) with gravity or smart crop, masks, tint, opacity."""

from __future__ import annotations

import pyvips

from ..template.colors import parse_color
from ..template.model import ImageLayer
from .context import DrawContext
from .patch import Patch
from .rect import apply_mask, ellipse_mask, rounded_mask, scaled_box

# (fraction of the spare width, fraction of the spare height) to skip for each gravity
_GRAVITY: dict[str, tuple[float, float]] = {
    "centre": (0.5, 0.5), "north": (0.5, 0.0), "south": (0.5, 1.0),
    "east": (1.0, 0.5), "west": (0.0, 0.5), "north-east": (1.0, 0.0),
    "north-west": (0.0, 0.0), "south-east": (1.0, 1.0), "south-west": (0.0, 1.0),
    "smart": (0.5, 0.5),
}


def to_rgba(image: pyvips.Image) -> pyvips.Image:
    """Any decoded image (grey, RGB, CMYK, 16-bit, float) -> sRGB uchar RGBA."""
    if image.interpretation != "srgb" or image.format != "uchar":
        # colourspace handles b-w/grey16/rgb16/cmyk (with its fallback profile) and keeps alpha
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands == 3:
        image = image.bandjoin(255)
    elif image.bands > 4:
        image = image[0:4]
    return image


# thumbnail_image (lanczos3, premultiplied alpha) of a decoded 2400x1600 photo into 400x400:
# ~6-10 ms, the same as resize(kernel="lanczos3"); decoding that JPEG costs ~29 ms more, so
# sources should shrink on load (thumbnail_buffer) when they know the target size.
def _fit(image: pyvips.Image, layer: ImageLayer, w: int, h: int) -> tuple[pyvips.Image, int, int]:
    """Resize to the box by the layer's fit; returns the image and its offset in the box."""
    iw, ih = image.width, image.height
    if layer.fit == "fill":
        return image.thumbnail_image(w, height=h, size="force"), 0, 0
    if layer.fit == "contain":
        fitted = image.thumbnail_image(w, height=h, size="both")
        gx, gy = _GRAVITY.get(layer.gravity, (0.5, 0.5))
        # a patch smaller than the box, placed by gravity: no transparent pixels to composite
        return fitted, round((w - fitted.width) * gx), round((h - fitted.height) * gy)
    if layer.gravity in ("centre", "smart"):
        crop = "attention" if layer.gravity == "smart" else "centre"
        return image.thumbnail_image(w, height=h, size="both", crop=crop), 0, 0
    factor = max(w / iw, h / ih)
    cover = image.thumbnail_image(max(w, round(iw * factor)), height=max(h, round(ih * factor)),
                                  size="force")
    gx, gy = _GRAVITY[layer.gravity]
    left = round((cover.width - w) * gx)
    top = round((cover.height - h) * gy)
    return cover.crop(left, top, w, h), 0, 0


def tint(image: pyvips.Image, color: str) -> pyvips.Image:
    """Multiply luminance by a colour: a white product becomes the colour, shading kept."""
    r, g, b, a = parse_color(color)
    luma = image[0:3].colourspace("b-w")
    tinted = luma.linear([r / 255, g / 255, b / 255], [0.0, 0.0, 0.0], uchar=True)
    if a < 255:
        # a translucent tint mixes the tinted and the original image by its alpha
        f = a / 255
        tinted = (tinted * f + image[0:3] * (1 - f)).cast("uchar")
    return tinted.bandjoin(image[3]).copy(interpretation="srgb")


def draw_image(layer: ImageLayer, ctx: DrawContext) -> Patch | None:
    """Fit ctx.images[layer.src] into the box, then mask, tint and fade it."""
    source = ctx.images.get(layer.src)
    if source is None:
        return None
    x, y, w, h = scaled_box(layer.box, ctx.scale)
    if w <= 0 or h <= 0 or layer.opacity <= 0:
        return None
    if source.get_typeof("orientation"):
        source = source.autorot()
    image, dx, dy = _fit(source, layer, w, h)
    image = to_rgba(image)
    if layer.tint:
        image = tint(image, layer.tint)
    if layer.mask == "circle":
        image = apply_mask(image, ellipse_mask(image.width, image.height))
    elif layer.radius > 0:
        image = apply_mask(image, rounded_mask(image.width, image.height,
                                               round(layer.radius * ctx.scale)))
    if layer.opacity < 1:
        image = image.linear([1.0, 1.0, 1.0, layer.opacity], [0.0], uchar=True)
    return Patch(image, x + dx, y + dy)
