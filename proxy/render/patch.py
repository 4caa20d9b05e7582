"""Patch: what every layer drawer returns, an RGBA image and where it goes on the canvas."""

from __future__ import annotations

from dataclasses import dataclass

import pyvips


@dataclass(frozen=True)
class Patch:
    """An sRGB uchar RGBA image (straight alpha) placed at (x, y) in output pixels.

    The pipeline composites only this region of the canvas, which is several times cheaper
    than a full-canvas composite (DESIGN.md, measured facts). x/y may be negative or the
    patch may overhang the canvas; the pipeline clips.
    """

    image: pyvips.Image
    x: int
    y: int
