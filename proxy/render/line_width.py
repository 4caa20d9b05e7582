"""A one-line text's laid-out width at any size, predicted from its font file with HarfBuzz.

Pango shapes with HarfBuzz, then (hinted metrics, whole-pixel glyph positions) gives every
glyph its advance rounded to whole pixels plus its kerning rounded to whole pixels. The same
arithmetic on HarfBuzz's own shaping of the font file predicts the line's width at every
size from one shaping (7 us for a 33-letter name): over 350 shrinking names the largest size
whose predicted width is within the box was the largest size that fits for 97 % of them, one
step either side for the rest. Per-character advances measured at one size cannot do that:
the rounding of each glyph's advance differs from size to size, and they miss kerning.

Which file Pango takes for a font name is fontconfig's choice, so it is not guessed from
names: every file of the family is tried against a line Pango lays out at two sizes, and the
one that predicts it best is used if it is within _PROBE_TOLERANCE. A font with no such file
gets no prediction (the caller falls back to summed advances). A prediction is only ever
where the search starts: every size drawn is laid out and seen to fit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import uharfbuzz as hb

from .vips import FONTS_DIR_ENV, font_files, fonts_dir, in_family

# Probe lines, laid out by Pango to pick the font file: wide and narrow letters, capitals,
# digits and punctuation, at two sizes whose roundings differ.
_PROBE = "Hamburgefonstiv QWXYZ 0123456789 jklmnpr-AVATAR, Ty."
_PROBE_PX = (43.0, 61.0)
# Pango's width of the probe is its ink between two markers, which differs from the sum of
# advances by the end glyphs' side bearings: Inter's files predict it within 0.3 %, and its
# weights differ by 2-5 %.
_PROBE_TOLERANCE = 0.006


@dataclass(frozen=True)
class Shaped:
    """A line's glyph advances and kerning in font units, ready to be sized."""

    advances: np.ndarray
    kerning: np.ndarray
    upem: int

    def width(self, size_px: float) -> int:
        """The line's width in whole pixels at `size_px`, as Pango positions its glyphs."""
        return int(self.widths(np.array([size_px]))[0])

    def widths(self, sizes_px: np.ndarray) -> np.ndarray:
        """The line's width at each of `sizes_px`, in one pass (a search asks for many)."""
        scales = (sizes_px / self.upem)[:, None]
        # Both round half up, as FreeType's 26.6 rounding and PANGO_UNITS_ROUND do.
        widths: np.ndarray = (np.floor(self.advances * scales + 0.5).sum(axis=1)
                              + np.floor(self.kerning * scales + 0.5).sum(axis=1))
        return widths


class LineFont:
    """One font file, shaped with HarfBuzz."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._font = hb.Font(hb.Face(hb.Blob.from_file_path(str(path))))
        self._upem = self._font.face.upem
        self._advances: dict[int, int] = {}     # by glyph: a name's letters mostly repeat

    def shape(self, body: str) -> Shaped | None:
        """The line shaped; None when a character is missing from the font (Pango would take
        it from another font, whose advances this file does not know)."""
        buffer = hb.Buffer()
        buffer.add_str(body)
        buffer.guess_segment_properties()
        hb.shape(self._font, buffer)
        glyphs = [info.codepoint for info in buffer.glyph_infos]
        if 0 in glyphs:                       # .notdef: the font has no glyph for it
            return None
        known = self._advances
        for glyph in glyphs:
            if glyph not in known:
                known[glyph] = self._font.get_glyph_h_advance(glyph)
        advances = np.array([known[glyph] for glyph in glyphs], dtype=np.float64)
        total = np.array([pos.x_advance for pos in buffer.glyph_positions], dtype=np.float64)
        return Shaped(advances=advances, kerning=total - advances, upem=self._upem)


def line_font(font: str, laid_out: Callable[[str, str, float], int]) -> LineFont | None:
    """The file that predicts how Pango lays out `font` ("Inter Bold"), or None.

    `laid_out(font, text, size_px)` is Pango's width of one line. Found once per font name
    and fonts folder for the process.
    """
    # keyed by the setting, not the resolved folder: resolving a path costs 20 us a name
    return _line_font(font, os.environ.get(FONTS_DIR_ENV, ""), laid_out)


@lru_cache(maxsize=64)
def _line_font(font: str, setting: str, laid_out: Callable[[str, str, float], int]
               ) -> LineFont | None:
    wanted = [laid_out(font, _PROBE, size) for size in _PROBE_PX]
    best: tuple[float, LineFont] | None = None
    for path, family in font_files(fonts_dir()):
        if not in_family(font, family):
            continue
        try:
            candidate = LineFont(path)
        except Exception:  # noqa: BLE001  (a file HarfBuzz cannot read predicts nothing)
            continue
        shaped = candidate.shape(_PROBE)
        if shaped is None:
            continue
        error = max(abs(shaped.width(size) - width) / max(width, 1)
                    for size, width in zip(_PROBE_PX, wanted, strict=True))
        if best is None or error < best[0]:
            best = (error, candidate)
    return best[1] if best is not None and best[0] <= _PROBE_TOLERANCE else None
