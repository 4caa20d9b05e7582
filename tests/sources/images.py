"""Small image builders shared by the source tests (pyvips for real files, bytes for hostile)."""

from __future__ import annotations

import struct
import zlib

import pyvips


def real(suffix: str, width: int = 64, height: int = 48) -> bytes:
    """A real image in the format of `suffix` (".jpg", ".png", ...), made by libvips."""
    image = (pyvips.Image.black(width, height, bands=3) + [200, 80, 40]).cast("uchar")
    return bytes(image.write_to_buffer(suffix))


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_flood(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height: a decoder would allocate it all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _chunk(b"IEND", b""))


def gif_frames(frames: int) -> bytes:
    """A 1x1 GIF with `frames` frames, built by hand (a few bytes per frame)."""
    out = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x01\x00\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return out + b"\x3b"
