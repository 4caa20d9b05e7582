"""Patch: what every layer drawer returns, an RGBA image and where it goes on the canvas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyvips

if TYPE_CHECKING:
    from .coverage import Coverage


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
    # An opaque layer under a mask (a circle avatar) also comes as its RGB pixels, (rows,
    # columns x 3), and the mask's planes: blend.ready blends from those without computing
    # `image`, which the base canvas reads only if the layer joins it.
    rgb: np.ndarray | None = None
    coverage: Coverage | None = None
