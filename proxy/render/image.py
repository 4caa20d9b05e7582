"""Image layers: fit (cover, contain, fill) with gravity or smart crop, masks, tint, opacity."""

from __future__ import annotations

import numpy as np
import pyvips

from ..template.colors import parse_color
from ..template.model import ImageLayer
from .context import DrawContext
from .coverage import circle, rounded
from .decode import upright
from .patch import Patch
from .pixels import pixels
from .rect import apply_mask, scaled_box

# (fraction of the spare width, fraction of the spare height) to skip for each gravity
_GRAVITY: dict[str, tuple[float, float]] = {
    "centre": (0.5, 0.5), "north": (0.5, 0.0), "south": (0.5, 1.0),
    "east": (1.0, 0.5), "west": (0.0, 0.5), "north-east": (1.0, 0.0),
    "north-west": (0.0, 0.0), "south-east": (1.0, 1.0), "south-west": (0.0, 1.0),
    "smart": (0.5, 0.5),
}


def to_rgba(image: pyvips.Image, mask: pyvips.Image | None = None) -> pyvips.Image:
    """Any decoded image (grey, RGB, CMYK, 16-bit, float) -> sRGB uchar RGBA.

    With a uchar coverage `mask`, an opaque source takes the mask as its alpha (the same
    pixels as multiplying an alpha of 255 by it, without the multiply).
    """
    if image.interpretation != "srgb" or image.format != "uchar":
        # colourspace handles b-w/grey16/rgb16/cmyk (with its fallback profile) and keeps alpha
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands == 3:
        return image.bandjoin(255 if mask is None else mask)
    if image.bands > 4:
        image = image[0:4]
    return image if mask is None else apply_mask(image, mask)


# thumbnail_image (lanczos3, premultiplied alpha) of a decoded 2400x1600 photo into 400x400:
# ~6-10 ms, the same as resize(kernel="lanczos3"); decoding that JPEG costs ~29 ms more, so
# sources shrink on load (decode.py) when they know the target size.
def _fit(image: pyvips.Image, layer: ImageLayer, w: int, h: int, ctx: DrawContext
         ) -> tuple[pyvips.Image, int, int]:
    """Resize to the box by the layer's fit; returns the image and its offset in the box."""
    if layer.fit == "fill":
        return image.thumbnail_image(w, height=h, size="force"), 0, 0
    if layer.fit == "contain":
        fitted = image.thumbnail_image(w, height=h, size="both")
        gx, gy = _GRAVITY.get(layer.gravity, (0.5, 0.5))
        # a patch smaller than the box, placed by gravity: no transparent pixels to composite
        return fitted, round((w - fitted.width) * gx), round((h - fitted.height) * gy)
    # Cover: cut the window that shows in the box out of the source first, then resize only
    # that. Resizing the whole source to cover the box and cropping after cost scale x source
    # size: a 1 x 2000 PNG in a 880 px box became 880 x 1,760,000 pixels (issue #13, ~10 s).
    iw, ih = image.width, image.height
    cw, ch = _cover_window(iw, ih, w, h)
    if (cw, ch) != (iw, ih):
        if layer.gravity == "smart":
            # analysed, then cut: two reads of a source decoded for one sequential read
            image = image.copy_memory()
            cx, cy = _attention_centre(image, cw, ch)
            left = min(max(0, round(cx - cw / 2)), iw - cw)
            top = min(max(0, round(cy - ch / 2)), ih - ch)
        else:
            gx, gy = _GRAVITY[layer.gravity]
            left, top = round((iw - cw) * gx), round((ih - ch) * gy)
        image = image.crop(left, top, cw, ch)
    # Same aspect (the common avatar): one window, so smart-crop analysis could not change it.
    return _resize_to(image, w, h, ctx), 0, 0


def _resize_to(image: pyvips.Image, w: int, h: int, ctx: DrawContext) -> pyvips.Image:
    """Exactly w x h: an opaque source through `resize` (thumbnail_image adds its own checks
    around the very same resize: about 0.5 ms more for an avatar, a tenth of its card), the
    thread's kept pipeline for its size when there is one (resizer.py)."""
    if not image.hasalpha():
        if ctx.memo is not None:
            kept = ctx.memo.resizers().resize(image, w, h)
            if kept is not None:
                return kept
        resized = image.resize(w / image.width, vscale=h / image.height)
        if (resized.width, resized.height) == (w, h):
            return resized
    # alpha wants premultiplying around the resample, which thumbnail_image does
    return image.thumbnail_image(w, height=h, size="force")


def _cover_window(iw: int, ih: int, w: int, h: int) -> tuple[int, int]:
    """Size of the largest part of an iw x ih source with the w x h box's aspect."""
    if iw * h > ih * w:      # wider than the box: full height, part of the width
        return max(1, min(iw, round(ih * w / h))), ih
    return iw, max(1, min(ih, round(iw * h / w)))


_ANALYSE_PX = 64   # libvips' attention itself works on a 32 x 32 shrink of what it is given


def _attention_centre(image: pyvips.Image, cw: int, ch: int) -> tuple[float, float]:
    """The centre of attention in source pixels, found on a small copy of the source.

    thumbnail_image(crop="attention") resized the whole source to cover the box before the
    analysis (measured 8-11 ms for a 400x400 avatar into 220 px); a 64 px copy gives the same
    answer at the 32 px resolution the analysis works at.
    """
    iw, ih = image.width, image.height
    factor = min(1.0, _ANALYSE_PX / max(iw, ih))
    sw, sh = max(1, round(iw * factor)), max(1, round(ih * factor))
    small = image.thumbnail_image(sw, height=sh, size="force") if factor < 1 else image
    result = small.smartcrop(max(1, min(sw, round(cw * sw / iw))),
                             max(1, min(sh, round(ch * sh / ih))),
                             interesting="attention", attention_x=True, attention_y=True)
    found: dict[str, int] = result[1]  # type: ignore[assignment]  # (image, outputs)
    return (found["attention_x"] + 0.5) * iw / sw, (found["attention_y"] + 0.5) * ih / sh


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
    source = upright(source)
    image, dx, dy = _fit(source, layer, w, h, ctx)
    # Masks are memoised by size (coverage.py, rect.py): drawn once per box, not per avatar.
    coverage = None
    if layer.mask == "circle":
        coverage = circle(image.width, image.height)
    elif layer.radius > 0:
        coverage = rounded(image.width, image.height, round(layer.radius * ctx.scale))
    if (coverage is not None and not layer.tint and layer.opacity >= 1 and image.bands == 3
            and image.format == "uchar" and image.interpretation == "srgb"):
        # A circle avatar: its RGB pixels computed once, and the mask, are what blending needs
        # (blend.ready); the RGBA joined from them is made only if the layer joins the base.
        width, height = image.width, image.height
        data = pixels(image)
        rgb = np.frombuffer(data, dtype=np.uint8).reshape(height, width * 3)
        opaque = pyvips.Image.new_from_memory(data, width, height, 3, "uchar")
        return Patch(opaque, x + dx, y + dy, rgb=rgb, coverage=coverage)
    # tint keeps alpha and reads only colour, so masking first gives the same pixels
    image = to_rgba(image, coverage.image if coverage is not None else None)
    if layer.tint:
        image = tint(image, layer.tint)
    if layer.opacity < 1:
        image = image.linear([1.0, 1.0, 1.0, layer.opacity], [0.0], uchar=True)
    return Patch(image, x + dx, y + dy)
