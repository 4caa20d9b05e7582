"""Rect layers: solid fills, linear gradients, rounded corners and an inside stroke."""

from __future__ import annotations

import math
from functools import lru_cache

import pyvips

from ..template.colors import parse_color
from ..template.model import RGBA, Box, Gradient, RectLayer
from .context import DrawContext
from .patch import Patch

# Measured (libvips 8.18, one thread, noisy shared machine; "build" = Python + op calls,
# "pixels" = build plus copy_memory() of the result, which is what the composite later pays):
#   1200x630 flat fill ............... build 0.006 ms (cached), pixels ~0.6-0.8 ms
#   1200x630 gradient 0 / 90 deg ..... build ~0.5 ms, pixels ~1.0 / ~2.3 ms (1-D LUT, zoomed)
#   1200x630 gradient 45 deg ......... build ~0.5-0.8 ms, pixels ~6 ms (per-pixel recomb)
#   400x200 radius 24 ................ build ~0.2 ms, pixels ~0.8 ms
#   400x200 radius + stroke .......... build ~1.2 ms, pixels ~3.3 ms
# pyvips calls cost ~50-70 us each, so shapes are cached by size (lru_cache) and built from
# four antialiased corner tiles; an SVG rounded rect via svgload_buffer cost ~1.5 ms.


def scaled_box(box: Box, scale: float) -> tuple[int, int, int, int]:
    """Box in output pixels; edges are rounded (not sizes) so adjacent boxes never gap."""
    x, y, w, h = box
    x0, y0 = round(x * scale), round(y * scale)
    return x0, y0, round((x + w) * scale) - x0, round((y + h) * scale) - y0


@lru_cache(maxsize=256)
def _pixel(rgba: RGBA) -> pyvips.Image:
    """One sRGB RGBA uchar pixel (cached: colours repeat across renders)."""
    return pyvips.Image.new_from_memory(bytes(rgba), 1, 1, 4, "uchar").copy(
        interpretation="srgb")


@lru_cache(maxsize=256)
def solid(width: int, height: int, rgba: RGBA) -> pyvips.Image:
    """A constant sRGB RGBA uchar image: one zoom op, no pixel work until it is read."""
    # pyvips calls cost ~50-70 us each; black().new_from_image() measured 440 us, this ~60 us
    return _pixel(rgba).zoom(width, height)


def with_opacity(rgba: RGBA, opacity: float) -> RGBA:
    """Fold layer opacity into a colour's alpha (free, unlike a per-pixel multiply)."""
    r, g, b, a = rgba
    return (r, g, b, round(a * max(0.0, min(1.0, opacity))))


@lru_cache(maxsize=64)
def _corner(radius_px: int) -> pyvips.Image:
    """Antialiased top-left quarter disc, radius_px square, uchar coverage (cached)."""
    xy = pyvips.Image.xyz(radius_px, radius_px) + 0.5 - radius_px
    dist = (xy[0] * xy[0] + xy[1] * xy[1]) ** 0.5
    # coverage ~ clamp(r - d + 0.5): a one-pixel ramp across the arc
    cover = ((radius_px + 0.5 - dist) * 255).cast("uchar")  # cast clips to 0..255
    return cover.copy_memory()


@lru_cache(maxsize=64)
def rounded_mask(width: int, height: int, radius_px: int) -> pyvips.Image:
    """1-band uchar coverage of a rounded rectangle (255 inside, antialiased corners)."""
    r = min(radius_px, width // 2, height // 2)
    mask = pyvips.Image.black(width, height).new_from_image(255).cast("uchar")
    if r <= 0:
        return mask
    tl = _corner(r)
    mask = mask.insert(tl, 0, 0)
    mask = mask.insert(tl.fliphor(), width - r, 0)
    mask = mask.insert(tl.flipver(), 0, height - r)
    return mask.insert(tl.rot180(), width - r, height - r)


@lru_cache(maxsize=64)
def ellipse_mask(width: int, height: int) -> pyvips.Image:
    """1-band uchar antialiased ellipse inscribed in width x height (a circle when square)."""
    rx, ry = width / 2, height / 2
    xy = pyvips.Image.xyz(width, height) + 0.5
    nx = (xy[0] - rx) / rx
    ny = (xy[1] - ry) / ry
    # distance to the edge in pixels, approximated by normalised radius times the mean radius
    dist_px = ((nx * nx + ny * ny) ** 0.5 - 1) * ((rx + ry) / 2)
    cover = ((0.5 - dist_px) * 255).cast("uchar")
    return cover.copy_memory()


def apply_mask(image: pyvips.Image, mask: pyvips.Image) -> pyvips.Image:
    """Multiply the alpha of an RGBA uchar image by a uchar coverage mask."""
    alpha = (image[3] * mask).linear([1 / 255], [0.5], uchar=True)
    return image[0:3].bandjoin(alpha)


@lru_cache(maxsize=128)
def _gradient_lut(stops: tuple[tuple[float, RGBA], ...]) -> pyvips.Image:
    """256-entry RGBA LUT, interpolated in premultiplied space like CSS gradients."""
    ordered = sorted(stops, key=lambda s: s[0])
    out = bytearray()
    for i in range(256):
        t = i / 255
        if t <= ordered[0][0]:
            c = ordered[0][1]
        elif t >= ordered[-1][0]:
            c = ordered[-1][1]
        else:
            k = next(j for j in range(1, len(ordered)) if t <= ordered[j][0])
            (p0, c0), (p1, c1) = ordered[k - 1], ordered[k]
            f = 0.0 if p1 <= p0 else (t - p0) / (p1 - p0)
            a = c0[3] + (c1[3] - c0[3]) * f
            pre = [c0[n] * c0[3] + (c1[n] * c1[3] - c0[n] * c0[3]) * f for n in range(3)]
            rgb = [round(v / a) if a > 0 else 0 for v in pre]
            c = (rgb[0], rgb[1], rgb[2], round(a))
        out += bytes(max(0, min(255, v)) for v in c)
    # No copy_memory() here: on a memory image it returns the same pixels without the
    # Python-side reference that keeps `out` alive (the LUT came back as garbage).
    return pyvips.Image.new_from_memory(bytes(out), 256, 1, 4, "uchar")


def gradient(width: int, height: int, grad: Gradient, opacity: float) -> pyvips.Image:
    """A linear gradient as CSS draws it: the angle points where it goes (0deg up, 90deg right,
    135deg from the top-left to the bottom-right corner), and the gradient line through the
    centre is just long enough that the corners get the first and last stops."""
    stops = tuple((pos, with_opacity(parse_color(col), opacity)) for pos, col in grad.stops)
    lut = _gradient_lut(stops)
    theta = math.radians(grad.angle_deg)
    # CSS Images 3, linear-gradient(): direction (sin a, -cos a) in y-down image coordinates
    dx, dy = math.sin(theta), -math.cos(theta)
    if abs(dx) < 1e-9 or abs(dy) < 1e-9:
        # axis-aligned (the common case): compute one row/column, then replicate it
        horizontal = abs(dy) < 1e-9
        n = width if horizontal else height
        forward = (dx if horizontal else dy) > 0
        ramp = pyvips.Image.xyz(n, 1)[0] if horizontal else pyvips.Image.xyz(1, n)[1]
        t = (ramp + 0.5) * (255 / n)
        index = (t if forward else 255 - t).cast("uchar")
        line = index.maplut(lut).copy_memory()
        # zoom, not replicate: replicating a 1 px column 1200 times measured 3x slower
        img = line.zoom(1, height) if horizontal else line.zoom(width, 1)
        return img.copy(interpretation="srgb")
    length = abs(width * dx) + abs(height * dy)
    # t = ((x + 0.5 - cx) dx + (y + 0.5 - cy) dy) / length + 0.5, as one recomb + linear
    k = 255 / length
    offset = (((0.5 - width / 2) * dx + (0.5 - height / 2) * dy) / length + 0.5) * 255
    proj = pyvips.Image.xyz(width, height).recomb(pyvips.Image.new_from_array([[dx * k, dy * k]]))
    index = proj.linear([1.0], [offset], uchar=True)
    return index.maplut(lut).copy(interpretation="srgb")


def draw_rect(layer: RectLayer, ctx: DrawContext) -> Patch | None:
    """Draw a filled or gradient rect with optional radius and inside stroke."""
    x, y, w, h = scaled_box(layer.box, ctx.scale)
    if w <= 0 or h <= 0 or layer.opacity <= 0:
        return None
    if layer.gradient is not None:
        body = gradient(w, h, layer.gradient, layer.opacity)
    elif layer.fill is not None:
        body = solid(w, h, with_opacity(parse_color(layer.fill), layer.opacity))
    else:
        body = solid(w, h, (0, 0, 0, 0))
    radius_px = round(layer.radius * ctx.scale)
    stroke_px = round(layer.stroke_width * ctx.scale) if layer.stroke else 0
    if stroke_px > 0 and layer.stroke is not None:
        stroke_rgba = with_opacity(parse_color(layer.stroke), layer.opacity)
        iw, ih = w - 2 * stroke_px, h - 2 * stroke_px
        if iw <= 0 or ih <= 0:
            body = solid(w, h, stroke_rgba)
        elif radius_px <= 0:
            inner = body.crop(stroke_px, stroke_px, iw, ih)
            body = inner.embed(stroke_px, stroke_px, w, h, extend="background",
                               background=list(stroke_rgba))
        else:
            # blend fill over stroke by the inner rounded shape's coverage (antialiased seam)
            inner_mask = rounded_mask(iw, ih, max(0, radius_px - stroke_px)).embed(
                stroke_px, stroke_px, w, h)
            body = inner_mask.ifthenelse(body, list(stroke_rgba), blend=True)
            body = body.copy(interpretation="srgb")
    if radius_px > 0 and stroke_px <= 0 and layer.gradient is None and layer.fill is not None:
        # solid fill: the mask (scaled by the colour's alpha) is the alpha band, no multiply
        r, g, b, a = with_opacity(parse_color(layer.fill), layer.opacity)
        mask = rounded_mask(w, h, radius_px)
        alpha = mask if a == 255 else mask.linear([a / 255], [0.0], uchar=True)
        body = solid(w, h, (r, g, b, 255))[0:3].bandjoin(alpha)
    elif radius_px > 0:
        body = apply_mask(body, rounded_mask(w, h, radius_px))
    return Patch(body, x, y)
