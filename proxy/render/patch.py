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

    image: pyvips.Image       # RGBA; an opaque layer under a mask: its RGB (see `rgba`)
    x: int
    y: int
    # An opaque layer under a mask (a circle avatar) comes as its RGB, as an image and as
    # pixels (rows, columns x 3), and the mask's planes: blend.ready blends from those, and
    # the RGBA is joined only if the layer joins the base canvas (a bandjoin call cost about
    # 0.1 ms of pyvips per card for an avatar that never did).
    rgb: np.ndarray | None = None
    coverage: Coverage | None = None

    def rgba(self) -> pyvips.Image:
        """The RGBA image: `image` itself, or a masked opaque layer's RGB and its mask."""
        return with_coverage(self.image, self.coverage)


def with_coverage(image: pyvips.Image, coverage: Coverage | None) -> pyvips.Image:
    """`image` when it is RGBA (no coverage), else an opaque RGB joined with its mask."""
    return image if coverage is None else image.bandjoin(coverage.image)
