"""SVG layers: refuse external references, then rasterise from a buffer, fitted to the box."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import lru_cache

import pyvips

from ..errors import BadSource
from ..template.model import SvgLayer
from .context import DrawContext
from .patch import Patch
from .rect import scaled_box

# A caller's value may hold characters XML 1.0 forbids; drop them so the document still parses.
_SAFE_DATA_URI = re.compile(r"data:image/(png|jpeg|webp|gif);base64,", re.IGNORECASE)
_URL_REF = re.compile(r"url\(\s*(['\"]?)\s*([^)'\"\s]*)", re.IGNORECASE)
# librsvg's CSS parser honours escapes (u\72l(...)), which would hide a url( from the check
_CSS_ESCAPE = re.compile(r"\\")
_FORBIDDEN_ELEMENTS = frozenset({"script", "foreignobject", "iframe", "embed", "object"})


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _check_css(css: str, where: str) -> None:
    lowered = css.lower()
    if "@import" in lowered:
        raise ValueError(f"{where}: @import is not allowed")
    if _CSS_ESCAPE.search(css):
        raise ValueError(f"{where}: CSS escapes are not allowed")
    for match in _URL_REF.finditer(css):
        if not match.group(2).startswith("#"):
            raise ValueError(f"{where}: url() may only point at a #fragment")


def check_svg(text: str) -> None:
    """Raise ValueError with a reason when SVG text could reach anything outside itself."""
    head = text.lower()
    if "<!doctype" in head or "<!entity" in head:
        raise ValueError("DOCTYPE and ENTITY declarations are not allowed")
    if "<?xml-stylesheet" in head:
        raise ValueError("xml-stylesheet processing instructions are not allowed")
    try:
        # expat without a DOCTYPE cannot expand or fetch entities; it decodes character
        # references in attribute values, so "&#102;ile:" is checked as "file:"
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    if _local(root.tag) != "svg":
        raise ValueError("the root element must be <svg>")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = _local(element.tag)
        if tag in _FORBIDDEN_ELEMENTS:
            raise ValueError(f"<{tag}> is not allowed")
        if tag == "style":
            _check_css("".join(element.itertext()), "<style>")
        for name, value in element.attrib.items():
            attr = _local(name)
            if attr in ("href", "src"):
                ref = value.strip()
                if not (ref.startswith("#") or _SAFE_DATA_URI.match(ref)):
                    raise ValueError(
                        f"<{tag} {attr}> may only be a #fragment or a base64 PNG/JPEG/WebP/GIF"
                    )
            elif attr.startswith("on"):
                raise ValueError(f"event attribute {attr!r} is not allowed")
            elif "url(" in value.lower() or attr == "style":
                _check_css(value, f"<{tag} {attr}>")


@lru_cache(maxsize=256)
def _checked(text: str) -> str | None:
    """check_svg's reason or None, cached: templates render the same art many times."""
    try:
        check_svg(text)
    except ValueError as exc:
        return str(exc)
    return None


def draw_svg(layer: SvgLayer, ctx: DrawContext) -> Patch | None:
    """Rasterise the layer's SVG to fit its box (aspect kept, centred), crisp at any dpr."""
    x, y, w, h = scaled_box(layer.box, ctx.scale)
    if w <= 0 or h <= 0 or layer.opacity <= 0:
        return None
    reason = _checked(layer.svg)
    if reason is not None:
        raise BadSource("the template's SVG art was refused", detail=reason)
    data = layer.svg.encode("utf-8")
    try:
        # Header only (librsvg parses, draws nothing): the intrinsic size sets the vector scale,
        # so the art is drawn at output resolution rather than upscaled.
        natural = pyvips.Image.svgload_buffer(data, unlimited=False)
        factor = min(w / natural.width, h / natural.height)
        if min(natural.width, natural.height) * factor < 1:
            # art thinner than a pixel in this box (found by fuzzing: librsvg refuses a
            # zero-sized image, which was a 422 blaming the art): nothing to draw
            return None
        image = pyvips.Image.svgload_buffer(data, scale=factor, unlimited=False)
    except pyvips.Error as exc:
        raise BadSource("the template's SVG art could not be drawn", detail=str(exc)) from None
    if image.bands != 4 or image.format != "uchar":
        image = image.colourspace("srgb").cast("uchar")
        if not image.hasalpha():
            image = image.bandjoin(255)
    if layer.opacity < 1:
        image = image.linear([1.0, 1.0, 1.0, layer.opacity], [0.0], uchar=True)
    # scale rounding can leave the raster 1 px over the box; the pipeline clips, so crop here
    image = image.crop(0, 0, min(image.width, w), min(image.height, h))
    return Patch(image, x + (w - image.width) // 2, y + (h - image.height) // 2)
