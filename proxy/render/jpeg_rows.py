"""JPEGs of opaque canvases encoded one row of MCUs at a time, so a render encodes only its band.

Most of a card is the same in every render: on the social card the name, title and avatar
change rows 145-389 of 630, and the rest is the base canvas (render/memo.py). The JPEG encode
was the largest single step of a card, and about a third of it went on rows identical to the
base's.

Every row of MCUs (16 pixel rows at 4:2:0, 8 at 4:4:4) is encoded by itself, as a JPEG of
just those rows, and its entropy-coded segment kept. The whole image is the first row's
header with the full height and a restart interval of one row of MCUs, then the segments with
restart markers between them. That is a valid baseline JPEG: a restart resets the DC
predictors as the start of each small JPEG did, and without `optimize_coding` the Huffman and
quantisation tables depend on the quality alone (each row's header is checked against the
first's). So the base's segments are encoded once per base, and a render encodes only the
rows of its band and puts them in place: the bytes do not depend on which rows were reused.

The rows are encoded by libjpeg-turbo through `simplejpeg`, from the NumPy canvas the blend
wrote: 0.60-0.70 ms for a 1200x272 band, where libvips' `jpegsave_buffer` (mozjpeg in
`pyvips-binary`) took 1.3-1.5 ms for the same rows (its sink, its buffers and its operation
set-up). Same tables and sampling as libvips picks for the quality; the pixels decode within
a few levels of libvips' encode of the same canvas (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simplejpeg

_MARKERS = tuple(bytes((0xFF, 0xD0 + k)) for k in range(8))
_EOI = b"\xff\xd9"
_SOF_BASELINE = 0xC0
_SOS = 0xDA


@dataclass(frozen=True)
class RowSegments:
    """One canvas encoded row by row: the whole image's header and one segment per MCU row."""

    header: bytes                   # SOI up to and including the scan header
    mcu_height: int                 # pixel rows per MCU row (16 with 4:2:0, 8 with 4:4:4)
    segments: tuple[bytes, ...]

    @property
    def nbytes(self) -> int:
        """Memory held, for the memo's bound."""
        return len(self.header) + sum(len(s) for s in self.segments) + 64 * len(self.segments)


def mcu_height(quality: int) -> int:
    """The MCU height libvips' JPEG encoder picks: 4:2:0 below Q90, 4:4:4 from there."""
    return 8 if quality >= 90 else 16


def encode_rows(pixels: np.ndarray, quality: int) -> RowSegments | None:
    """Every MCU row of an (height, width, 3) uchar canvas, and the whole image's header.

    None if the encoder's rows do not share one header (never seen; then the caller
    encodes the canvas whole).
    """
    height, width = pixels.shape[:2]
    mcu_h = mcu_height(quality)
    rows = _encode_rows(pixels, 0, math.ceil(height / mcu_h), mcu_h, quality)
    if rows is None:
        return None
    first, segments = rows
    interval = math.ceil(width / mcu_h)       # MCUs in a row: MCUs are square here
    head = first.header
    at = first.height_at
    restart = b"\xff\xdd\x00\x04" + interval.to_bytes(2, "big")
    header = (head[:at] + height.to_bytes(2, "big") + head[at + 2:first.scan_at] + restart
              + head[first.scan_at:])
    return RowSegments(header, mcu_h, tuple(segments))


def splice(base: RowSegments, pixels: np.ndarray, rows: tuple[int, int], quality: int
           ) -> bytes | None:
    """The JPEG of `pixels`, which equal the base's outside `rows` (y0, y1): the base's
    segments with the band's rows encoded anew. None if a row's header differs."""
    mcu_h = base.mcu_height
    first = rows[0] // mcu_h
    last = min(len(base.segments), math.ceil(rows[1] / mcu_h))
    band: list[bytes] = []
    if first < last:
        encoded = _encode_rows(pixels, first, last, mcu_h, quality)
        if encoded is None or not encoded[0].fits(base.header):
            return None
        band = encoded[1]
    return join(base.header, base.segments[:first] + tuple(band) + base.segments[last:])


def _encode_rows(pixels: np.ndarray, first: int, last: int, mcu_h: int, quality: int
                 ) -> tuple[_Row, list[bytes]] | None:
    """MCU rows first..last-1 each encoded by itself: the first one parsed, and every
    row's segment; None if the rows do not share their tables."""
    head: _Row | None = None
    segments: list[bytes] = []
    for k in range(first, last):
        strip = pixels[k * mcu_h:(k + 1) * mcu_h]
        data = _encode(strip, quality)
        if head is not None and data.startswith(head.header) and data.endswith(_EOI):
            # a full row after the first: the very same header, so no parse (about 90 µs a
            # card went on parsing and comparing headers)
            segments.append(data[len(head.header):-2])
            continue
        row = _Row.parse(data)
        if row is None or (head is not None and not row.same_tables(head)):
            return None
        head = head or row
        segments.append(row.segment)
    return (head, segments) if head is not None else None


def _encode(strip: np.ndarray, quality: int) -> bytes:
    sampling = "444" if mcu_height(quality) == 8 else "420"
    data: bytes = simplejpeg.encode_jpeg(np.ascontiguousarray(strip), quality=quality,
                                         colorspace="RGB", colorsubsampling=sampling,
                                         fastdct=False)
    return data


def join(header: bytes, segments: tuple[bytes, ...]) -> bytes:
    """Header, segments with restart markers RST0-RST7 between them, end of image."""
    parts = [header, segments[0]]
    for k, segment in enumerate(segments[1:]):
        parts.append(_MARKERS[k & 7])
        parts.append(segment)
    parts.append(_EOI)
    return b"".join(parts)


@dataclass(frozen=True)
class _Row:
    """One MCU row encoded as its own JPEG, cut into header and entropy-coded segment."""

    header: bytes
    height_at: int                  # offset of the frame's 16-bit height in `header`
    scan_at: int                    # offset of the SOS marker in `header`
    segment: bytes

    @classmethod
    def parse(cls, data: bytes) -> _Row | None:
        """`data` cut after its scan header; None if it is not one baseline scan."""
        at, height_at = 2, -1
        while at + 4 <= len(data) and data[at] == 0xFF:
            marker = data[at + 1]
            length = int.from_bytes(data[at + 2:at + 4], "big")
            if marker == _SOF_BASELINE:
                height_at = at + 5
            elif marker == _SOS:
                end = at + 2 + length
                if height_at < 0 or not data.endswith(_EOI):
                    return None
                return cls(data[:end], height_at, at, data[end:-2])
            at += 2 + length
        return None

    def same_tables(self, other: _Row) -> bool:
        """Whether the two headers differ in the frame's height at most."""
        at = self.height_at
        return (at == other.height_at and self.header[:at] == other.header[:at]
                and self.header[at + 2:] == other.header[at + 2:])

    def fits(self, whole: bytes) -> bool:
        """Whether this row's header is `whole`'s but for the height and the restart interval."""
        at, scan = self.height_at, self.scan_at
        return (whole[:at] == self.header[:at]
                and whole[at + 2:scan] == self.header[at + 2:scan]
                and whole[scan + 6:] == self.header[scan:])
