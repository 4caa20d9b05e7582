"""An image's pixels computed in the calling thread, without libvips' thread pool.

`write_to_memory` runs a sink: a worker thread computes the image in strips and wakes the
waiting caller after each one (a 400x400 JPEG decode: about 40 voluntary and 30 involuntary
context switches, 0.3 ms of system time). A card makes several small images this way (its
avatar's decode and resize, each text patch), and on two busy cores those hand-offs cost more
than the work of some of them. `vips_region_fetch` asks the pipeline for the whole area in
one request, in this thread: the same pixels, with no switch (measured on a 400x400 avatar:
decode 1.66 -> 1.48 ms, resize into 220 px 1.27 -> 0.99 ms).

One request holds every intermediate image at full size where a sink holds strips, and it
emits no progress signal for the render's deadline (render/deadline.py) to act on. So only
images up to `MAX_FETCH_PIXELS` take it; larger ones (a photo, a big canvas) keep the sink.
"""

from __future__ import annotations

import pyvips

# An avatar's decode (400x400) and a name or title patch (780 x 100-150) are under it. At
# 1,000,000 a 5-minute soak with small caches settled 60-85 MB higher (328 MB against
# 266): the whole-size intermediates of the bigger requests (worst-case text at start, large
# patches) stayed in the render threads' malloc arenas. At this bound it matched the sink's.
MAX_FETCH_PIXELS = 262_144


def pixels(image: pyvips.Image) -> memoryview:
    """`image`'s pixels, packed like `write_to_memory`'s (a buffer NumPy and libvips read)."""
    width, height = image.width, image.height
    if width * height > MAX_FETCH_PIXELS:
        return memoryview(image.write_to_memory())
    # Both return a cffi buffer, which keeps libvips' allocation alive while it is referenced.
    return memoryview(pyvips.Region.new(image).fetch(0, 0, width, height))
