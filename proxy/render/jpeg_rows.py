"""A JPEG of a canvas that differs from its memoised base only in a band of rows.

Most of a card is the same in every render: on the social card the name, title and avatar
change rows 145-389 of 630, and the rest is the base canvas (render/memo.py). The JPEG encode
is the largest single step of a card, and about a third of it went on rows identical to the
base's (measured on real-workload cards, one thread: the whole card 2.6-2.8 ms, its 256
changing rows alone 1.8-1.9 ms).

With a restart marker after every row of MCUs, a row's entropy-coded segment depends on that
row's pixels only: a restart resets the DC predictors, and without `optimize_coding` the
Huffman and quantisation tables depend on the quality alone. So the rows outside the band are
the base's own segments, encoded once per base, and the band is encoded by itself and put in
their place, the restart markers numbered on. The bytes are exactly those of the whole canvas
encoded with the same restart interval (tested); anything unexpected in either encode (other
tables, another sampling, a progressive scan) falls back to encoding the whole canvas.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import pyvips

# Entropy-coded data escapes every 0xFF as FF 00, so FF D0-D7 there is always a restart marker.
_RESTART = re.compile(rb"\xff[\xd0-\xd7]")
_MARKERS = tuple(bytes((0xFF, 0xD0 + k)) for k in range(8))
_EOI = b"\xff\xd9"
_SOF_BASELINE = 0xC0
_SOS = 0xDA
# Below this share of unchanged rows, splitting and joining is not worth a second code path.
MIN_KEPT_SHARE = 0.15

Encoder = Callable[[pyvips.Image, int], bytes]   # (image, restart interval in MCUs) -> JPEG


@dataclass(frozen=True)
class RowSegments:
    """One encoded canvas cut at its restart markers: one entropy segment per MCU row."""

    header: bytes                   # SOI up to and including the scan header
    height_at: int                  # offset of the frame's 16-bit height inside `header`
    mcu_height: int                 # pixel rows per MCU row (16 with 4:2:0, 8 with 4:4:4)
    segments: tuple[bytes, ...]

    @property
    def nbytes(self) -> int:
        """Memory held, for the memo's bound."""
        return len(self.header) + sum(len(s) for s in self.segments) + 64 * len(self.segments)


def mcu_height(quality: int) -> int:
    """The MCU height libvips' JPEG encoder picks: 4:2:0 below Q90, 4:4:4 from there."""
    return 8 if quality >= 90 else 16


def restart_interval(width: int, quality: int) -> int:
    """MCUs in one row of MCUs: a restart marker after every row."""
    return math.ceil(width / mcu_height(quality))


def split(data: bytes, height: int) -> RowSegments | None:
    """Cut a baseline, single-scan JPEG with a restart marker per MCU row into its rows.

    None when the encode is not that shape (then the caller encodes the whole canvas).
    """
    if data[:2] != b"\xff\xd8":
        return None
    at, height_at, mcu_h, restart = 2, -1, 0, 0
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2:at + 4], "big")
        body = data[at + 4:at + 2 + length]
        if marker == _SOF_BASELINE:
            components = body[5]
            vertical = max(body[6 + 3 * i + 1] & 0x0F for i in range(components))
            height_at, mcu_h = at + 5, 8 * vertical
        elif 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None                     # progressive, arithmetic or lossless: not ours
        elif marker == 0xDD:
            restart = int.from_bytes(body[:2], "big")
        at += 2 + length
        if marker == _SOS:
            break
    else:
        return None
    if height_at < 0 or not restart or not data.endswith(_EOI):
        return None
    segments = tuple(_RESTART.split(data[at:-2]))
    if len(segments) != math.ceil(height / mcu_h):
        return None                         # a second scan, or restarts not one per row
    return RowSegments(data[:at], height_at, mcu_h, segments)


def encode_rows(canvas: pyvips.Image, base: RowSegments, rows: tuple[int, int],
                encoder: Encoder, interval: int) -> bytes | None:
    """`canvas` as JPEG when it equals the base outside `rows` (y0, y1); None when the band
    is most of the canvas or its encode does not fit the base's."""
    mcu_h = base.mcu_height
    first = rows[0] // mcu_h
    last = min(len(base.segments), math.ceil(rows[1] / mcu_h))
    if first >= last:
        return _join(base.header, base.segments)      # nothing changed: the base itself
    if len(base.segments) - (last - first) < MIN_KEPT_SHARE * len(base.segments):
        return None
    top = first * mcu_h
    band_h = min(canvas.height, last * mcu_h) - top
    band = split(encoder(canvas.crop(0, top, canvas.width, band_h), interval), band_h)
    if band is None or band.mcu_height != mcu_h or len(band.segments) != last - first:
        return None
    at = base.height_at
    expected = base.header[:at] + band_h.to_bytes(2, "big") + base.header[at + 2:]
    if band.header != expected:
        return None                         # other tables or sampling: not spliceable
    return _join(base.header, base.segments[:first] + band.segments + base.segments[last:])


def _join(header: bytes, segments: tuple[bytes, ...]) -> bytes:
    parts = [header, segments[0]]
    for k, segment in enumerate(segments[1:]):
        parts.append(_MARKERS[k & 7])
        parts.append(segment)
    parts.append(_EOI)
    return b"".join(parts)
