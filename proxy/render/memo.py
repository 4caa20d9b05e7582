"""RenderMemo: per-process reuse of what does not change between renders of a template.

Static layers (no `{variable}`, no `when`) and the background are drawn once per template
version and output scale; decoded, fitted image patches are kept by source. The app (or the
CLI) owns one memo and passes it to every render; nothing here is module-level state.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, deque
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
from cachetools import LRUCache

from .resizer import Resizers

T = TypeVar("T")
# A thread keeps canvas buffers up to this size in all (a 1200x630 card at dpr 2 is 9 MB),
# at most SCRATCH_BUFFERS of them.
SCRATCH_MAX_BYTES = 16 * 1024 * 1024
SCRATCH_BUFFERS = 4


class RenderMemo:
    """A thread-safe LRU of intermediate images, bounded by an approximate byte count."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self._cache: LRUCache[Hashable, tuple[Any, int]] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda item: max(item[1], 1))
        self.hits = 0
        self.misses = 0
        # Per layer slot, the values of its last renders: tells a value that fills a share of
        # them (a default title, one badge for a whole batch) from one that merely came back.
        self._recent: LRUCache[Hashable, _Window] = LRUCache(maxsize=1024)
        self._threads = threading.local()

    def get_or_make(self, key: Hashable, make: Callable[[], T], nbytes: Callable[[T], int]) -> T:
        """Return the memoised value for `key`, computing it (outside the lock) on a miss."""
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self.hits += 1
                return found[0]  # type: ignore[no-any-return]
            self.misses += 1
        value = make()
        size = nbytes(value)
        with self._lock:
            if size <= self._cache.maxsize:
                self._cache[key] = (value, size)
        return value

    def canvas(self, base: np.ndarray) -> CanvasBuffer:
        """A canvas buffer of this thread holding a copy of `base`, reused render after render.

        A render blends its layers into a private copy of the base canvas. A new 2.3 MB array
        per render came fresh from the kernel each time (a page fault per 4 KB page): the copy
        measured 0.2-0.4 ms in a render against 0.06 ms into memory already mapped. A buffer
        lives only until the render's encode, and each thread renders one image at a time.
        """
        buffers: CanvasBuffers | None = getattr(self._threads, "canvases", None)
        if buffers is None:
            buffers = self._threads.canvases = CanvasBuffers()
        return buffers.holding(base)

    def resizers(self) -> Resizers:
        """This thread's kept resize pipelines (resizer.py)."""
        kept: Resizers | None = getattr(self._threads, "resizers", None)
        if kept is None:
            kept = self._threads.resizers = Resizers()
        return kept

    def note(self, slot: Hashable, value: Hashable, window: int) -> int:
        """Record that `slot` (a layer of a template) drew `value`; how many of the slot's
        last `window` renders drew that value."""
        with self._lock:
            recent = self._recent.get(slot)
            if recent is None or recent.values.maxlen != window:
                recent = self._recent[slot] = _Window(window)
            return recent.add(value)

    def __len__(self) -> int:
        return len(self._cache)


class CanvasBuffers:
    """One thread's canvas buffers, each kept over the base it last copied.

    Names that straddle a size step put a flowed title at two heights: two bases, both hot,
    taking turns from one render to the next. With one buffer every turn copied a whole base
    (a quarter of the renders of such a batch); one buffer a base puts back only the rects.
    At most SCRATCH_BUFFERS of them and SCRATCH_MAX_BYTES in all, the least recently used
    going first.
    """

    def __init__(self) -> None:
        self._kept: list[CanvasBuffer] = []     # least recently used first

    def holding(self, base: np.ndarray) -> CanvasBuffer:
        kept = self._kept
        found = next((buffer for buffer in kept if buffer.holds(base)), None)
        if found is None:
            found = self._spare(base)
        if found.pixels.nbytes > SCRATCH_MAX_BYTES:   # a dpr 4 poster allocates per render
            found.copy_of(base)
            return found
        if found in kept:
            kept.remove(found)
        kept.append(found)
        while len(kept) > SCRATCH_BUFFERS or self._held_bytes() > SCRATCH_MAX_BYTES:
            kept.pop(0)
        found.copy_of(base)
        return found

    def _spare(self, base: np.ndarray) -> CanvasBuffer:
        """A buffer for a base none holds: one whose base is gone, a new one while there is
        room, else the least recently used of the same shape."""
        same = [buffer for buffer in self._kept if buffer.pixels.shape == base.shape]
        gone = next((buffer for buffer in same if not buffer.holds_live()), None)
        if gone is not None:
            return gone
        room = (len(self._kept) < SCRATCH_BUFFERS
                and base.nbytes + self._held_bytes() <= SCRATCH_MAX_BYTES)
        if same and not room:
            return same[0]
        return CanvasBuffer(base.shape)

    def _held_bytes(self) -> int:
        return sum(buffer.pixels.nbytes for buffer in self._kept)

    def __len__(self) -> int:
        return len(self._kept)


class CanvasBuffer:
    """A canvas: a copy of a base canvas plus the rects the last render blended.

    The next render over the same base puts back only those rects (the name, title and avatar
    of a card, a fifth of it) instead of copying the whole 2.3 MB: in a batch worker the
    whole copy measured 0.2-0.3 ms of a 12 ms card, the base being out of the CPU caches.
    The base is held weakly: a base the memo dropped is not kept alive by its copy.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.pixels = np.empty(shape, dtype=np.uint8)
        self._base: weakref.ref[np.ndarray] | None = None   # whose pixels it holds off `dirty`
        self.dirty: list[tuple[int, int, int, int]] = []

    def holds(self, base: np.ndarray) -> bool:
        return self._base is not None and self._base() is base

    def holds_live(self) -> bool:
        """Whether the base it holds is still alive (in the memo, or in a render)."""
        return self._base is not None and self._base() is not None

    def copy_of(self, base: np.ndarray) -> None:
        if self.holds(base):
            for y0, y1, x0, x1 in self.dirty:
                self.pixels[y0:y1, x0:x1] = base[y0:y1, x0:x1]
        else:
            np.copyto(self.pixels, base)
            self._base = weakref.ref(base)
        self.dirty = []

    def touched(self, rect: tuple[int, int, int, int] | None) -> None:
        """Note a rect (y0, y1, x0, x1) the render blended into."""
        if rect is not None:
            self.dirty.append(rect)


class _Window:
    """The last `size` values of one slot and how often each occurs among them."""

    def __init__(self, size: int) -> None:
        self.values: deque[Hashable] = deque(maxlen=size)
        self.counts: Counter[Hashable] = Counter()

    def add(self, value: Hashable) -> int:
        if len(self.values) == self.values.maxlen:
            old = self.values[0]
            self.counts[old] -= 1
            if not self.counts[old]:
                del self.counts[old]
        self.values.append(value)
        self.counts[value] += 1
        return self.counts[value]
