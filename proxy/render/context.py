"""DrawContext: what a layer drawer may read besides its (already resolved) layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyvips

from .memo import RenderMemo


@dataclass(frozen=True)
class TextFit:
    """How a text layer was fitted: for `--explain`, `picstream check` and the debug header."""

    layer_index: int
    size: float          # chosen font size in template px (dpr 1)
    lines: int
    cut: bool            # True when the text was shortened with an ellipsis
    fits_at_min: bool    # True when the whole text fits at min_size within max_lines
    part: str = ""       # text in a group: ".children[1]" (counting the children drawn)


@dataclass
class DrawContext:
    """Per-render inputs for drawers: scale, decoded images by `src`, and notes out."""

    scale: float                                   # output px per template px (dpr x resize)
    canvas_size: tuple[int, int]                   # output pixels
    images: Mapping[str, pyvips.Image] = field(default_factory=dict)
    layer_index: int = 0
    fits: list[TextFit] = field(default_factory=list)
    memo: RenderMemo | None = None                 # the app's memo: groups keep text in it
