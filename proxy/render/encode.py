"""Encode a finished sRGB canvas to bytes with per-format save options chosen by measurement."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pyvips

from .. import formats

# Chosen by measurement on a 1200x630 card (135-degree gradient, translucent rounded panel,
# circle-masked photo, two lines of text), libvips 8.18, one thread, median of 3-8 runs on a
# shared (noisy) machine; "photo" is 1200x630 of blurred colour noise, a worst case.
#
#   format  options                         card ms  card bytes   photo ms  photo bytes
#   jpeg    Q82                       <-        3.3      33,693        3.9      117,189
#   jpeg    Q82 optimize_coding                 5.6      27,639        9.0      113,032
#   jpeg    Q82 optimize + subsample off       11.9      38,667       17.0      189,859
#   jpeg    Q82 interlace                      10.1      26,610       17.5      110,900
#   png     compression 1                       3.5     218,942       26.0    2,199,823
#   png     compression 2             <-        4.0     155,598          -            -
#   png     compression 6                       6.2     140,079       38.1    1,508,839
#   png     compression 1 palette effort 1     78.7     172,422      286.1      782,097
#   webp    Q80 effort 0                       12.8      17,696       18.1       81,032
#   webp    Q80 effort 1              <-       13.8      14,420       24.9       80,530
#   webp    Q80 effort 2                       19.0      13,252       34.4       86,570
#   webp    Q80 effort 4                       50.1      12,136       89.3       82,090
#   webp    Q80 effort 0 smart_subsample      108.5      19,864      130.5       94,356
#   avif    Q60 effort 0              <-       17.2      12,453       29.1       73,345
#   avif    Q60 effort 1                       39.7       9,764       50.8       75,655
#   avif    Q60 effort 2                       72.1       9,711      134.5       76,240
#   gif     effort 1 dither 0                 148-550   120,042     1010        862,515
#   gif     effort 4 dither 0         <-       93.6     142,536          -            -
#   gif     effort 7 dither 0                 160-495   142,425      920        864,746
#   gif     effort 1 dither 1                1044.4     145,106     1150        882,182
#
# Rendered once, served many times from cache: a few ms for ~20 % fewer bytes is worth it
# (png compression 2, webp effort 1); anything costing 2x+ is not. JPEG is the exception:
# optimize_coding doubles the encode (CPU ms for the shipped social card, one thread: 2.4-2.8
# plain vs 4.7-5.8 optimized) and the encode is most of a JPEG render, so it alone decides
# whether 10,000 unique cards fit in 30 s on two cores (they do not with it). JPEG is the
# format of batch jobs and email; we take the 18 % bigger files for twice the throughput.
# PNG palette quantisation and GIF are slow (libimagequant): GIF is for compatibility only.
DEFAULT_QUALITY: Mapping[str, int] = MappingProxyType(
    {"jpeg": 82, "webp": 80, "avif": 60}
)

SAVE_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "jpeg": MappingProxyType({"optimize_coding": False, "interlace": False}),
    "webp": MappingProxyType({"effort": 1, "smart_subsample": False}),
    "avif": MappingProxyType({"compression": "av1", "effort": 0}),
    "png": MappingProxyType({"compression": 2}),
    "gif": MappingProxyType({"effort": 4, "dither": 0.0}),
})

_SAVERS: Mapping[str, str] = MappingProxyType({
    "jpeg": "jpegsave_buffer", "webp": "webpsave_buffer", "avif": "heifsave_buffer",
    "png": "pngsave_buffer", "gif": "gifsave_buffer",
})

_QUALITY_OPTION: Mapping[str, str] = MappingProxyType({"jpeg": "Q", "webp": "Q", "avif": "Q"})


def to_srgb_uchar(image: pyvips.Image) -> pyvips.Image:
    """Coerce any image to sRGB uchar (keeping alpha)."""
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def quality_of(fmt: str, quality: int | None) -> int:
    """The quality a lossy format is saved at: the asked one within 1-100, else the default."""
    return max(1, min(100, quality or DEFAULT_QUALITY[fmt]))


def encode(image: pyvips.Image, fmt: str, quality: int | None,
           matte: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    """Encode to webp, avif, png, jpeg (or jpg) or gif, metadata stripped.

    JPEG has no alpha: a transparent canvas is flattened onto `matte` (the template's `matte`
    colour, white by default). The other formats keep the alpha (GIF as 1-bit transparency).
    """
    known = formats.find(fmt)
    if known is None:
        raise ValueError(f"unknown output format: {fmt!r}")
    fmt = known.name
    image = to_srgb_uchar(image)
    if fmt == "jpeg" and image.hasalpha():
        image = image.flatten(background=list(matte))
    options: dict[str, Any] = dict(SAVE_OPTIONS[fmt])
    if fmt in _QUALITY_OPTION:
        options[_QUALITY_OPTION[fmt]] = quality_of(fmt, quality)
    data: bytes = getattr(image, _SAVERS[fmt])(keep="none", **options)
    return data
