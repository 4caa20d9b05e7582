"""Resize pipelines kept per thread and fed new pixels: the filter tables are built once.

libvips computes a resize's filter tables when it builds the operation: about 0.5-0.9 ms
for a 400x400 avatar into 220 px, more than the resize itself, paid again for every avatar
because every avatar is a new source image. A thread keeps one pipeline per (source size,
box) over a buffer it owns; each avatar's decoded pixels are copied in, the pipeline's caches
are dropped (`invalidate`, which libvips documents for memory changed behind its back), and
the same operation runs again. The pixels are those of a fresh `resize` (tested).

Only small opaque 8-bit sources take this path (an avatar, a logo): a buffer per size and
thread is kept, so its size is bounded (MAX_SOURCE_PIXELS, MAX_PIPELINES per thread).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pyvips

from .pixels import pixels

MAX_SOURCE_PIXELS = 1_000_000      # 3 MB buffer at most (RGB)
MAX_PIPELINES = 4                  # per thread: 12 MB at most


class Resizer:
    """One kept pipeline: buffer (source pixels) -> resize to (width, height)."""

    def __init__(self, source_w: int, source_h: int, bands: int, width: int, height: int
                 ) -> None:
        self.shape = (source_h, source_w * bands)
        self.bands = bands
        self.buffer = np.zeros(self.shape, dtype=np.uint8)
        self.source = pyvips.Image.new_from_memory(self.buffer.data, source_w, source_h,
                                                   bands, "uchar")
        self.out = self.source.resize(width / source_w, vscale=height / source_h)
        self.size = (self.out.width, self.out.height)

    def run(self, image: pyvips.Image) -> pyvips.Image:
        """`image` (same size and bands as the buffer) resized; a memory image."""
        self.buffer[...] = np.frombuffer(pixels(image), dtype=np.uint8).reshape(self.shape)
        self.source.invalidate()      # a memory image is read afresh today; documented need
        width, height = self.size
        return pyvips.Image.new_from_memory(pixels(self.out), width, height, self.bands,
                                            "uchar")


class Resizers:
    """A thread's kept pipelines, least recently used dropped first."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[int, ...], Resizer] = OrderedDict()

    def resize(self, image: pyvips.Image, width: int, height: int) -> pyvips.Image | None:
        """`image` resized to exactly width x height, or None when it may not take this path
        (not 8-bit sRGB or grey without alpha, too large, or a size `resize` rounds off)."""
        bands = image.bands
        if (image.format != "uchar" or bands not in (1, 3)
                or image.interpretation != ("srgb" if bands == 3 else "b-w")
                or image.width * image.height > MAX_SOURCE_PIXELS):
            return None
        key = (image.width, image.height, bands, width, height)
        resizer = self._kept.get(key)
        if resizer is None:
            resizer = Resizer(image.width, image.height, bands, width, height)
            self._kept[key] = resizer
            if len(self._kept) > MAX_PIPELINES:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        if resizer.size != (width, height):
            return None
        return resizer.run(image)
