"""A render's deadline, enforced inside libvips while it computes, not only between steps.

libvips reports progress on the most-downstream image whose progress was turned on, and it
propagates that flag down a pipeline: turning it on for a decoded source makes every image
computed from it (a resize, a smart crop, an encode) emit `eval` once per work unit (about
128x128 pixels). The callback sets `kill` once the deadline has passed and libvips stops
with an error, so a hostile source cannot hold a render thread for many times the deadline
(libvips.org/API/current/method.Image.set_progress.html, signal.Image.eval.html).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pyvips

from ..errors import RenderTimeout
from .decode import LazyImages


class Deadline:
    """One render's deadline: `watch` images, `check` between steps, `expired` after a kill.

    It keeps every watched image's Python object alive until the render ends: pyvips holds
    the callback's handle on that object, and libvips calls it from its worker threads.
    """

    def __init__(self, at: float | None) -> None:
        self.at = at
        self.killed = False
        self._watched: list[pyvips.Image] = []

    @property
    def expired(self) -> bool:
        """The deadline has passed (or libvips work was killed for it)."""
        return self.killed or (self.at is not None and time.monotonic() > self.at)

    def check(self) -> None:
        """Raise RenderTimeout if the deadline has passed."""
        if self.expired:
            raise RenderTimeout("render took too long")

    def watch(self, image: pyvips.Image) -> pyvips.Image:
        """Report progress of work computed from `image`, and kill it past the deadline."""
        if self.at is None:
            return image
        image.set_progress(True)
        image.signal_connect("eval", self._on_eval)
        self._watched.append(image)
        return image

    def _on_eval(self, image: pyvips.Image, progress: Any) -> None:
        # Runs on a libvips worker thread, once per work unit: keep it to a clock read.
        if self.at is not None and time.monotonic() > self.at:
            self.killed = True
            image.set_kill(True)

    def release(self) -> None:
        """Forget the watched images (the render has ended; nothing computes from them)."""
        self._watched.clear()


class WatchedImages(LazyImages):
    """A render's sources, each decoded image watched by the render's deadline."""

    def __init__(self, images: Mapping[str, bytes], files: Mapping[str, bytes],
                 deadline: Deadline) -> None:
        super().__init__(images, files)
        self.deadline = deadline

    def __getitem__(self, key: str) -> pyvips.Image:
        return self.deadline.watch(super().__getitem__(key))
