"""Encode a finished sRGB canvas to bytes with per-format save options chosen by measurement."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pyvips

DEFAULT_QUALITY: Mapping[str, int] = MappingProxyType(
    {"jpeg": 82, "webp": 80, "avif": 60, "png": 100, "gif": 100}
)

SAVE_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "jpeg": MappingProxyType({"optimize_coding": True, "interlace": False}),
    "webp": MappingProxyType({"effort": 0, "smart_subsample": False}),
    "avif": MappingProxyType({"compression": "av1", "effort": 0}),
    "png": MappingProxyType({"compression": 1, "filter": "none"}),
    "gif": MappingProxyType({"effort": 1, "dither": 0.0}),
})

_SAVERS: Mapping[str, str] = MappingProxyType({
    "jpeg": "jpegsave_buffer", "webp": "webpsave_buffer", "avif": "heifsave_buffer",
    "png": "pngsave_buffer", "gif": "gifsave_buffer",
})

_QUALITY_OPTION: Mapping[str, str] = MappingProxyType({"jpeg": "Q", "webp": "Q", "avif": "Q"})


def to_srgb_uchar(image: pyvips.Image) -> pyvips.Image:
    """Coerce any image to sRGB uchar (keeping alpha)."""
    if image.interpretation not in ("srgb", "b-w") or image.format not in ("uchar",):
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def encode(image: pyvips.Image, fmt: str, quality: int | None) -> bytes:
    """Encode to webp, avif, png, jpeg (or jpg) or gif, metadata stripped."""
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in _SAVERS:
        raise ValueError(f"unknown output format: {fmt!r}")
    image = to_srgb_uchar(image)
    if fmt == "jpeg" and image.hasalpha():
        # JPEG has no alpha: flatten onto white, the colour a transparent area shows in most
        # mail clients and pages (a transparent canvas is unusual: templates have a background)
        image = image.flatten(background=[255, 255, 255])
    options: dict[str, Any] = dict(SAVE_OPTIONS[fmt])
    if fmt in _QUALITY_OPTION:
        options[_QUALITY_OPTION[fmt]] = quality or DEFAULT_QUALITY[fmt]
    data: bytes = getattr(image, _SAVERS[fmt])(keep="none", **options)
    return data
