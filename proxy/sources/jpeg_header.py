"""A JPEG's frame from its markers: plain (sequential, 8-bit, grey or colour, upright) or not.

Read before any decode, in microseconds (a walk from marker to marker up to the scan): the
sources wing checks a plain avatar's size with it on the event loop, and the render decodes
what it calls plain without libvips (render/plain_jpeg.py). Anything it is unsure of is
"not plain" and takes the libvips path, which has the last word.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# An avatar (400x400, 512x512) is plain-sized; bigger sources keep libvips, which can shrink
# on load and checks the render's deadline between strips.
MAX_PIXELS = 262_144

_SEQUENTIAL = (0xC0, 0xC1)               # SOF0 baseline, SOF1 extended sequential (Huffman)
_OTHER_SOF = frozenset({0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class PlainJpeg:
    """What the markers say about a plain JPEG."""

    width: int
    height: int
    bands: int                            # 1 (grey) or 3 (colour)


def plain_frame(data: bytes) -> PlainJpeg | None:
    """The frame of a plain, upright JPEG; None for anything libvips should decode."""
    size = len(data)
    if size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    pos = 2
    frame: PlainJpeg | None = None
    exif_seen = False
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:                 # fill byte before a marker
            pos += 1
            continue
        if marker == 0xDA:                 # start of scan: the header is over
            return frame
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2                       # markers without a length
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        end = pos + 2 + length
        if length < 2 or end > size:
            return None
        body = data[pos + 4:end]
        if marker in _SEQUENTIAL:
            if frame is not None or len(body) < 6:
                return None
            precision, height, width, components = struct.unpack(">BHHB", body[:6])
            if precision != 8 or components not in (1, 3) or not width or not height:
                return None
            if width * height > MAX_PIXELS:
                return None
            frame = PlainJpeg(width, height, components)
        elif marker in _OTHER_SOF:
            return None
        elif marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            if exif_seen or not _upright(body[6:]):
                return None
            exif_seen = True
        pos = end
    return None


def _upright(tiff: bytes) -> bool:
    """Whether an EXIF block's first IFD says orientation 1 (or nothing); unsure is False."""
    if len(tiff) < 8:
        return False
    order = tiff[:2]
    if order == b"II":
        endian = "<"
    elif order == b"MM":
        endian = ">"
    else:
        return False
    (ifd,) = struct.unpack(endian + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return False
    (count,) = struct.unpack(endian + "H", tiff[ifd:ifd + 2])
    entries = ifd + 2
    if entries + 12 * count > len(tiff):
        return False
    for i in range(count):
        at = entries + 12 * i
        tag, kind, n = struct.unpack(endian + "HHI", tiff[at:at + 8])
        if tag == _ORIENTATION_TAG:
            if kind != 3 or n != 1:      # SHORT, one value
                return False
            (value,) = struct.unpack(endian + "H", tiff[at + 8:at + 10])
            return value in (0, 1)
    return True
