"""Text layers: escaped Pango markup, bisect fit to the box, max_lines with an ellipsis.

How lines are counted: every render carries two invisible marker dots (alpha 0, 1 pt): one
raised `_MARKER_UP_EM` above the first baseline, one lowered `_MARKER_DOWN_EM` below the last.
libvips crops `text` output to the ink and reports its offset, so the ink top and bottom are the two
markers and give both baselines exactly; with an absolute Pango `line_height` every line is
`lh` px apart, hence `lines = (last - first) / lh + 1`. This needs no second render and, unlike
guessing from ink height, does not depend on which glyphs (descenders, marks, emoji) are drawn.
"""

from __future__ import annotations

import math
import re
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from html import escape
from itertools import repeat

import numpy as np
import pyvips

from ..template.colors import parse_color
from ..template.model import TextLayer
from ..template.values import valid_unicode
from .context import DrawContext, TextFit
from .line_width import line_font
from .patch import Patch
from .richtext import Span, pango_markup, styled_body
from .vips import FONT_SUFFIXES, fonts_dir

ELLIPSIS = "\u2026"
PANGO_UNITS = 1024           # Pango units per point; dpi=72 makes a point one pixel
SIZE_STEP_PX = 1.0           # fitting resolution in template px (sizes are whole px)
# Further than glyphs reach from their baseline (measured on the shipped fonts: Vietnamese
# capitals 1.09 em up, Arabic marks 0.69 em down); a smaller rise renders fewer rows.
_MARKER_UP_EM = 1.5
_MARKER_DOWN_EM = 1.0
_MAX_MARKS = 3               # combining marks kept per base character ("Zalgo" text)
_MARGIN_EM = 0.5             # ink allowed outside the line boxes (accents, Arabic marks)

# C0/C1 controls except \n: Pango rejects some and draws boxes for others.
_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# Runs of stacked combining marks beyond _MAX_MARKS: they reach past the markers and the box.
_MARKS = "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
_MARK_RUNS = re.compile(f"({_MARKS}{{{_MAX_MARKS}}}){_MARKS}+")
_PANGO_ALIGN = {"left": "low", "centre": "centre", "right": "high"}
_MIRROR = {"left": "right", "right": "left", "centre": "centre"}
_TRAILING = " \t\n,;:-\u2013\u2014"
# Never cut right before one of these: it belongs to the previous character's grapheme.
_JOINERS = frozenset("\u200d\ufe0f\ufe0e") | frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))


@dataclass(frozen=True)
class _Render:
    """One Pango render at one size, with its geometry in output pixels."""

    image: pyvips.Image      # RGBA, cropped by libvips to the ink, markers included
    lines: int
    block_top: float         # image row of the first line box's top (may be negative)
    size_px: float
    left_px: int             # where image column 0 sits relative to the box's left edge
    lh_px: float             # line height


def clean_text(text: str) -> str:
    """Make user text safe for Pango: valid Unicode, no control characters except newlines."""
    text = valid_unicode(text)  # the template's literal text never went through coerce
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _MARK_RUNS.sub(r"\1", _CONTROLS.sub("", text)).strip()


def markup_escape(text: str) -> str:
    """Escape text for Pango markup, so `<b>` prints as `<b>`."""
    return escape(text, quote=True)


def draw_text(layer: TextLayer, text: str, ctx: DrawContext) -> Patch | None:
    """Render plain user text into the layer box, shrinking and cutting it to fit."""
    body, spans = styled_body(layer, text, clean_text)
    if not body:
        ctx.fits.append(TextFit(ctx.layer_index, float(layer.size), 0, False, True))
        return None

    box_x, box_y, box_w, box_h = layer.box
    scale = ctx.scale
    r, g, b, a = parse_color(layer.color)
    style = _Style(
        font=layer.font,
        width_px=max(1, round(box_w * scale)),
        height_px=box_h * scale,
        align=_pango_align(layer.align, body),
        color=f"#{r:02x}{g:02x}{b:02x}",
        line_height=layer.line_height,
        letter_spacing_px=layer.letter_spacing * scale,
        base_size=layer.size,
        scale=scale,
        max_lines=layer.max_lines,
        spans=spans,
    )

    size, best, cut = _fit(style, body, layer.min_size)
    if best.lines == TOO_MANY_LINES:
        # not even "…" can be drawn at this size (a glyph beyond cairo's surface limit)
        ctx.fits.append(TextFit(ctx.layer_index, size, 0, True, False))
        return None
    fits_at_min = not cut
    ctx.fits.append(TextFit(ctx.layer_index, size, best.lines, cut, fits_at_min))

    image, top_px = _crop(best)
    alpha_scale = a / 255 * layer.opacity
    if alpha_scale < 1:
        image = image[0:3].bandjoin(image[3] * max(alpha_scale, 0.0)).cast("uchar")

    block_h = best.lines * best.lh_px
    slack = box_h * scale - block_h
    offset_y = {"top": 0.0, "middle": slack / 2, "bottom": slack}[layer.valign]
    x = round(box_x * scale) + best.left_px
    y = round(box_y * scale + offset_y + top_px)
    return Patch(image=image, x=x, y=y)


@dataclass(frozen=True)
class _Style:
    """Everything but the text and size that a render depends on."""

    font: str
    width_px: int
    height_px: float
    align: str
    color: str
    line_height: float
    letter_spacing_px: float
    base_size: int
    scale: float
    max_lines: int | None
    spans: tuple[Span, ...] = ()     # inline styles (richtext.py), offsets into the body

    def line_limit(self, size: float) -> int:
        """How many lines fit at `size`: the box height, capped by max_lines, at least one."""
        lh_px = self.line_height * size * self.scale
        by_height = max(1, int((self.height_px + 0.5) // lh_px))
        return by_height if self.max_lines is None else min(by_height, self.max_lines)


def _fit(style: _Style, body: str, min_size: int | None) -> tuple[float, _Render, bool]:
    """Choose the size (and, failing that, a cut) that fits; returns size, render, cut."""
    size = float(style.base_size)
    width = _Width(style, body)
    single = width.single_line(size)
    if single and min_size is not None and min_size < size and width.surely_too_wide(size):
        first = None                         # a long name: skip laying it out at full size
    else:
        first = _render(style, body, size)
        if first.lines <= style.line_limit(size):
            return size, first, False        # the common case: one Pango call

    if min_size is not None and min_size < size:
        lo, hi = int(min_size / SIZE_STEP_PX), int(size / SIZE_STEP_PX)

        def at_size(step: int) -> _Render | None:
            attempt = _render(style, body, step * SIZE_STEP_PX)
            return attempt if attempt.lines <= style.line_limit(step * SIZE_STEP_PX) else None

        if single and width.estimated:
            step, best = _walk_down(lo, hi, width.start_step(lo, hi), at_size, style.width_px)
        else:
            if single:
                # _largest probes round(guess) first: floor(guess + shift), see _GUESS_SHIFT
                guess = style.width_px / width.at(1.0) + _GUESS_SHIFT - 0.5
            else:
                # wrapped text fills about lines x width, which grows with the square of the size
                assert first is not None             # only a single line skips the first render
                guess = size * math.sqrt(style.line_limit(size) / first.lines)
            step, best = _largest(lo, hi, guess / SIZE_STEP_PX, at_size)
        size = step * SIZE_STEP_PX
        if best is None:
            best = _render(style, body, size)
            if best.lines > style.line_limit(size):
                return size, _cut_to_fit(style, body, size, width), True
        return size, best, False
    return size, _cut_to_fit(style, body, size, width), True


# Text drawn smaller than this many output px costs the same (about 0.15 ms a line, the fixed
# cost of a Pango render); widths measured there are within 2 % of a large size's, scaled.
_MEASURE_PX = 24.0
_MEASURE_ERROR = 0.05     # widths scaled from _MEASURE_PX measured within 2 % (Inter, Noto)
_SHAPED_ERROR = 0.01      # widths shaped from the font file predicted within 0.5 %
_MEAN_ADVANCE_EM = 0.5    # a Latin name's mean advance is about 0.55 em in Inter Bold
# A character's advance is measured once, on _ADVANCE_REPEAT copies at _ADVANCE_PX, so a
# name of alphabetic characters is estimated without a Pango call: the sum of its advances
# put the fitted size within 1.4 px of the guess it gives for 929 shrinking names (bench
# names and scripts, Inter Bold at 36-76 px), as close as the 24 px measurement did.
_ADVANCE_PX = 100.0
_ADVANCE_REPEAT = 8
# Where the largest fitting size sits against the measured width's guess (box width / width
# per px): floor(guess + 1.2) or one less for all but 9 of 929 shrinking names (Inter Bold,
# 780 px box). The search probes that first, then one beside it: two layouts.
_GUESS_SHIFT = 1.2
# A single line in plain letters is drawn at the first size that fits, walking down from
# where its width predicts. Shaped from the font file (line_width.py), the start is the largest
# size whose predicted width is within the box: over 1,888 shrinking names (the bench's
# workload, Inter Bold, 780 px box) 1.06 layouts a name and 1.2 % of them a step below. Without
# a file that predicts Pango (letter spacing, an unknown font) the start is
# floor(guess + _WALK_SHIFT) from the summed advances: over the same names 1.18
# layouts a name, and 4.7 % of them one size step (2 %) below the largest that fits, none
# more than two. A larger shift lays out more (0.6: 1.47 layouts, 0.5 % a step below), a
# smaller one draws more names small (0.0: 1.05 layouts, 10.8 %). It errs small, never over
# the box: every size drawn is one that was laid out and fitted. Hinting moves a line's width
# by up to 2.3 % from one size to the next (scaled), so one layout cannot tell whether the
# next size would fit too.
_WALK_SHIFT = 0.2
_WALK_DOWN_STEPS = 2      # then the estimate was poor: bisect what is left
# A first fit narrower than this share of the box, scaled to the next size, tries the next
# size up (an estimate far too small, e.g. a font whose advances mislead): past the 2.3 %.
_WALK_UP_BELOW = 0.97


class _Width:
    """The text's natural (unwrapped) width: summed from known advances or measured once."""

    def __init__(self, style: _Style, body: str) -> None:
        self.style = style
        self.body = body
        self.per_size: float | None = None     # output px per template px of font size

    @cached_property
    def estimated(self) -> bool:
        """Whether the width is summed from advances (asked only when a text does not fit)."""
        return not self.style.spans and _PLAIN_TEXT.fullmatch(self.body) is not None

    def single_line(self, size: float) -> bool:
        """Whether only one line fits at every size the search may try."""
        return self.style.line_limit(size) == 1 and self.style.line_limit(size / 4) == 1

    def surely_too_wide(self, size: float) -> bool:
        """Whether one line at `size` is wider than the box by more than the measuring error.

        Only asked when the text is long for its box (about half an em a character), so a
        short name still costs one Pango call and no measurement.
        """
        if len(self.body) * _MEAN_ADVANCE_EM * size * self.style.scale <= self.style.width_px:
            return False
        stepped = self.stepped
        step = size / SIZE_STEP_PX
        if stepped is not None and step.is_integer() and step < len(stepped):
            return bool(stepped[int(step)] > self.style.width_px * (1 + _SHAPED_ERROR))
        return self.at(size) > self.style.width_px * (1 + _MEASURE_ERROR)

    def at(self, size: float) -> float:
        """Width in output px at `size` template px (widths scale with the size within 2 %)."""
        if self.per_size is None and self.estimated:
            style = self.style
            ems = sum(map(_advance, repeat(style.font), self.body))
            self.per_size = ems * style.scale + len(self.body) * (
                style.letter_spacing_px / style.base_size)
        if self.per_size is None:
            small = _MEASURE_PX / self.style.scale
            image = _render(self.style, self.body, small, wrap=False).image
            self.per_size = max(image.width, 1) / small
        return self.per_size * size

    @cached_property
    def stepped(self) -> np.ndarray | None:
        """The line's width at every size step up to its size, shaped from its font file
        (line_width.py) in one pass; for plain text in one font without letter spacing."""
        style = self.style
        if not self.estimated or style.letter_spacing_px:
            return None
        font = line_font(style.font, _line_width)
        shaped = font.shape(self.body) if font is not None else None
        if shaped is None:
            return None
        steps = np.arange(math.floor(style.base_size / SIZE_STEP_PX) + 1)
        return shaped.widths(steps * SIZE_STEP_PX * style.scale)

    def start_step(self, lo: int, hi: int) -> int:
        """Where the walk down starts: the largest step whose shaped width is within the box,
        else floor(guess + _WALK_SHIFT) from the summed advances."""
        box = self.style.width_px
        stepped = self.stepped
        if stepped is None or hi > len(stepped):
            return math.floor(box / self.at(SIZE_STEP_PX) + _WALK_SHIFT)
        fitting = np.flatnonzero(stepped[lo + 1:hi] <= box)
        return lo + 1 + int(fitting[-1]) if fitting.size else lo


def _plain_advance(char: str) -> bool:
    """Whether a character's width in a line is its own advance: no shaping with its
    neighbours, no combining, no font fallback in the shipped fonts (Latin, Greek, Cyrillic,
    Vietnamese, and dashes and quotes). Other scripts are measured as a whole."""
    code = ord(char)
    simple = (0x20 <= code < 0x530 or 0x1E00 <= code < 0x2000 or 0x2010 <= code <= 0x2027)
    return simple and not unicodedata.combining(char) and code != 0x7F


def _plain_runs() -> str:
    """_plain_advance as a regex character class (one match instead of a call a character)."""
    codes = [code for code in range(0x2028) if _plain_advance(chr(code))]
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in runs)


_PLAIN_TEXT = re.compile(f"[{_plain_runs()}]*")


@lru_cache(maxsize=8192)
def _advance(font: str, char: str) -> float:
    """A character's advance in em: copies of it laid out on one line, less the markers.

    Cached for the process: a font's glyphs do not change, and a name's characters mostly
    repeat from earlier names (59 distinct ones in the bench's 10,000 names).
    """
    run = _natural_width(font, char * _ADVANCE_REPEAT) - _markers_width(font)
    return run / _ADVANCE_REPEAT / _ADVANCE_PX


@lru_cache(maxsize=32)
def _markers_width(font: str) -> int:
    return _natural_width(font, "")


def _natural_width(font: str, body: str, size_px: float = _ADVANCE_PX) -> int:
    """Ink width of `body` between the markers on one line at `size_px`."""
    style = _Style(font=font, width_px=1, height_px=size_px, align="low", color="#000000",
                   line_height=1.0, letter_spacing_px=0.0, base_size=1, scale=1.0,
                   max_lines=None)
    return int(_render(style, body, size_px, wrap=False).image.width)


def _line_width(font: str, body: str, size_px: float) -> int:
    """Pango's width of `body` on one line at `size_px` (line_width.py checks fonts with it)."""
    return _natural_width(font, body, size_px) - _natural_width(font, "", size_px)


def _largest(lo: int, hi: int, guess: float, attempt: Callable[[int], _Render | None]
             ) -> tuple[int, _Render | None]:
    """The largest i in [lo, hi) whose attempt fits, and its render (None when only lo may).

    `hi` is known not to fit and `lo` is assumed to. A plain bisection laid a long name out
    about six times; this probes the guess, then walks from it in growing steps (1, 1, 2, 4...)
    the way the first answer points until the answer flips, and bisects what is left: two
    layouts when the guess is good, and the same answer as the bisection either way.
    """
    best: _Render | None = None
    mid = min(max(round(guess), lo + 1), hi - 1)
    direction = 0            # +1 walking up, -1 walking down, 0 before the first answer
    step, moves = 1, 0
    while hi - lo > 1:
        if not lo < mid < hi:
            direction, mid = 2, (lo + hi) // 2     # walked out of range: bisect
        found = attempt(mid)
        if found is not None:
            lo, best = mid, found
        else:
            hi = mid
        went = 1 if found is not None else -1
        if direction in (0, went):
            direction = went
            mid += went * step
            moves += 1
            step = 1 if moves < 2 else step * 2
        else:
            direction, mid = 2, (lo + hi) // 2     # the answer flipped: bisect between
    return lo, best


def _walk_down(lo: int, hi: int, start: int, attempt: Callable[[int], _Render | None],
               box_px: int) -> tuple[int, _Render | None]:
    """The first i in (lo, hi) that fits, walking down from `start`.

    `hi` is known not to fit and `lo` is assumed to (None when only lo may, as _largest).
    """
    start = min(max(start, lo + 1), hi - 1)
    if start <= lo:
        return lo, None
    for i in range(start, max(start - _WALK_DOWN_STEPS, lo), -1):
        found = attempt(i)
        if found is None:
            continue
        # rarely, the first fit is far narrower than the box: the estimate was too small
        while i + 1 < hi and found.image.width * (i + 1) / i < box_px * _WALK_UP_BELOW:
            bigger = attempt(i + 1)
            if bigger is None:
                break
            i, found = i + 1, bigger
        return i, found
    failed = start - _WALK_DOWN_STEPS + 1
    return _largest(lo, failed, (lo + failed) / 2, attempt)


def _cut_to_fit(style: _Style, body: str, size: float, width: _Width) -> _Render:
    """The longest prefix (at a word boundary when possible) that fits with "…".

    Searched over the distinct prefixes (a cut inside a word falls back to its start, so
    most lengths give the same text), starting from the share of the natural width that fits.
    """
    limit = style.line_limit(size)
    heads = [""] + list(dict.fromkeys(
        head for head in (_prefix(body, n) for n in range(1, len(body))) if head))

    def with_ellipsis(i: int) -> _Render | None:
        attempt = _render(style, heads[i] + ELLIPSIS, size)
        return attempt if attempt.lines <= limit else None

    share = style.width_px * limit / max(width.at(size), 1.0)
    chars = share * len(body) - 1
    guess = sum(1 for head in heads[1:] if len(head) <= chars)
    _, best = _largest(0, len(heads), guess, with_ellipsis)
    return best if best is not None else _render(style, ELLIPSIS, size)


def _prefix(body: str, n: int) -> str:
    """The first ~n characters, cut at a word boundary if there is one, never mid-grapheme.

    A hyphen is a boundary too, as it is where Pango breaks a line: a double-barrelled name
    that does not fit keeps its first part ("Alexandra Konstantinopoulou…"), where cutting
    only at spaces left "Alexandra…".
    """
    while 0 < n < len(body) and (body[n] in _JOINERS or body[n - 1] == "\u200d"
                                 or unicodedata.combining(body[n])):
        n -= 1
    head = body[:n]
    if n < len(body) and not body[n].isspace():
        space = max(head.rfind(" "), head.rfind("\n"))
        hyphen = max(head.rfind("-"), head.rfind("\u2010"))
        if hyphen > 0 and hyphen > space and not head[:hyphen].endswith(tuple(_TRAILING)):
            head = head[:hyphen]
        elif space > 0:
            head = head[:space]
    return head.rstrip(_TRAILING + "\u2010")


def _render(style: _Style, body: str, size: float, *, wrap: bool = True) -> _Render:
    """One `vips text` call at `size` template px; measures lines from the marker dots.

    Without `wrap` the text is laid out on its own lines at their natural width (measuring).
    """
    size_px = size * style.scale
    lh_px = style.line_height * size_px
    rise_up = round(_MARKER_UP_EM * size_px * PANGO_UNITS)
    rise_down = round(_MARKER_DOWN_EM * size_px * PANGO_UNITS)
    spacing = round(style.letter_spacing_px * size / style.base_size * PANGO_UNITS)
    marker = "<span size='1024' fgalpha='1' rise='{}'>.</span>"
    markup = (
        f"<span foreground='{style.color}' line_height='{round(lh_px * PANGO_UNITS)}'"
        f" letter_spacing='{spacing}'>"
        f"{marker.format(rise_up)}{pango_markup(body, style.spans, markup_escape)}"
        f"{marker.format(-rise_down)}</span>"
    )
    try:
        if wrap:
            image = pyvips.Image.text(
                markup, font=f"{style.font} {size_px:.2f}px", width=style.width_px,
                wrap="word-char", align=style.align, dpi=72, rgba=True)
        else:
            image = pyvips.Image.text(markup, font=f"{style.font} {size_px:.2f}px", dpi=72,
                                      rgba=True)
    except pyvips.Error:
        # cairo refuses surfaces over CAIRO_MAX_PX a side (fuzzing found a 500: 700 px text
        # wrapping a glyph per line in a narrow box). Such a layout has more lines than any
        # box holds, so it does not fit: the search goes on to smaller sizes and shorter cuts.
        extent = (len(body) + 3) * max(lh_px, size_px) + len(body) * abs(spacing) / PANGO_UNITS
        # Below one device pixel of line height cairo refuses too (fuzzing: a 4 px name at
        # line_height 0.5 drawn at scale 0.25); such text would be invisible anyway.
        if extent <= CAIRO_MAX_PX and min(lh_px, size_px) >= 1:
            raise
        return _Render(image=_nothing(), lines=TOO_MANY_LINES, block_top=0.0, size_px=size_px,
                       left_px=0, lh_px=lh_px)
    # Both rows are relative to the image top, which is the raised marker's ink.
    first_baseline = rise_up / PANGO_UNITS
    last_baseline = image.height - rise_down / PANGO_UNITS
    lines = max(1, round((last_baseline - first_baseline) / lh_px) + 1)
    block_top = first_baseline - _baseline_in_line(style.font, size_px, lh_px)
    return _Render(image=image, lines=lines, block_top=block_top, size_px=size_px,
                   left_px=_int_field(image, "xoffset"), lh_px=lh_px)


CAIRO_MAX_PX = 32767          # cairo's largest image surface side
TOO_MANY_LINES = 1 << 30      # a layout too large to draw: it fits no box


def _nothing() -> pyvips.Image:
    return pyvips.Image.black(1, 1, bands=4).cast("uchar").copy(interpretation="srgb")


def _crop(render: _Render) -> tuple[pyvips.Image, float]:
    """The line boxes plus a margin (dropping both markers), and where row 0 sits in them."""
    margin = _MARGIN_EM * render.size_px
    top = max(0, int(render.block_top - margin))
    bottom = min(render.image.height,
                 int(render.block_top + render.lines * render.lh_px + margin) + 1)
    image = render.image.crop(0, top, render.image.width, max(1, bottom - top))
    return image, top - render.block_top


def _int_field(image: pyvips.Image, name: str) -> int:
    """An integer header field (libvips sets `text`'s ink offset in xoffset/yoffset)."""
    value = image.get(name)
    if not isinstance(value, int):
        raise TypeError(f"vips field {name} is not an int: {value!r}")
    return value


def _baseline_in_line(font: str, size_px: float, lh_px: float) -> float:
    """Where the baseline sits in a line box: CSS half-leading on the primary font's metrics."""
    ascent, descent = _font_metrics(font)
    return (lh_px - (ascent + descent) * size_px) / 2 + ascent * size_px


@lru_cache(maxsize=32)
def _font_metrics(font: str) -> tuple[float, float]:
    """Ascent and descent in em of the shipped file whose family starts `font` (Inter if none)."""
    fallback = (0.96875, 0.2421875)          # Inter's hhea values
    for path in sorted(fonts_dir().iterdir()):
        if path.suffix.lower() not in FONT_SUFFIXES:
            continue
        stem = path.stem.split("-")[0]
        if font.replace(" ", "").lower().startswith(stem.lower()):
            return _hhea_metrics(path.read_bytes()) or fallback
    return fallback


def _hhea_metrics(data: bytes) -> tuple[float, float] | None:
    """Ascender and descender over unitsPerEm from the `head` and `hhea` tables."""
    (num_tables,) = struct.unpack(">H", data[4:6])
    tables = {}
    for i in range(num_tables):
        tag, _checksum, offset, _length = struct.unpack(">4sIII", data[12 + 16 * i:28 + 16 * i])
        tables[tag] = offset
    if b"head" not in tables or b"hhea" not in tables:
        return None
    (units_per_em,) = struct.unpack(">H", data[tables[b"head"] + 18:tables[b"head"] + 20])
    ascender, descender = struct.unpack(">hh", data[tables[b"hhea"] + 4:tables[b"hhea"] + 8])
    return ascender / units_per_em, -descender / units_per_em


def _pango_align(align: str, body: str) -> str:
    """Pango's alignment for a physical one: Pango swaps left/right in RTL paragraphs."""
    return _PANGO_ALIGN[_MIRROR[align] if _is_rtl(body) else align]


def _is_rtl(body: str) -> bool:
    """Base direction by the first strong character (Unicode bidi rule P2), as Pango does."""
    for char in body:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False
