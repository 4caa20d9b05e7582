"""A layer's mask as blending reads it: NumPy planes made once per mask (rect.py's masks)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyvips

from .pixels import pixels
from .rect import ellipse_mask, rounded_mask


@dataclass(frozen=True, eq=False)
class Coverage:
    """A coverage mask, in libvips and as read-only planes cropped to what it covers."""

    image: pyvips.Image                 # 1-band uchar, the layer's size
    alpha3: np.ndarray                  # coverage, each value 3 times: (rows, columns x 3)
    keep3: np.ndarray                   # 255 - alpha3: how much of the canvas stays
    box: tuple[int, int, int, int]      # the crop: top, bottom, left, right
    empty: bool                         # covers nothing


def _planes(mask: pyvips.Image) -> Coverage:
    coverage = np.frombuffer(pixels(mask), dtype=np.uint8).reshape(mask.height, mask.width)
    rows = np.flatnonzero(coverage.max(axis=1))
    cols = np.flatnonzero(coverage.max(axis=0))
    if rows.size == 0:
        nothing = np.zeros((0, 0), dtype=np.uint8)
        return Coverage(mask, nothing, nothing, (0, 0, 0, 0), empty=True)
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    alpha3 = np.repeat(coverage[top:bottom, left:right], 3, axis=1)
    keep3 = 255 - alpha3
    # shared by every patch drawn with this mask: blending only reads them
    alpha3.flags.writeable = keep3.flags.writeable = False
    return Coverage(mask, alpha3, keep3, (top, bottom, left, right), empty=False)


@lru_cache(maxsize=64)
def circle(width: int, height: int) -> Coverage:
    """The ellipse inscribed in width x height (a circle avatar)."""
    return _planes(ellipse_mask(width, height))


@lru_cache(maxsize=64)
def rounded(width: int, height: int, radius_px: int) -> Coverage:
    """A rectangle with rounded corners."""
    return _planes(rounded_mask(width, height, radius_px))
