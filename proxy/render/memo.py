"""RenderMemo: per-process reuse of what does not change between renders of a template.

Static layers (no `{variable}`, no `when`) and the background are drawn once per template
version and output scale; decoded, fitted image patches are kept by source. The app (or the
CLI) owns one memo and passes it to every render; nothing here is module-level state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import LRUCache

T = TypeVar("T")


class RenderMemo:
    """A thread-safe LRU of intermediate images, bounded by an approximate byte count."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self._cache: LRUCache[Hashable, tuple[Any, int]] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda item: max(item[1], 1))
        self.hits = 0
        self.misses = 0
        # How often each key was asked for, bounded: tells a value that repeats from one that
        # is new every render (see pipeline._plan).
        self._asked: LRUCache[Hashable, int] = LRUCache(maxsize=4096)

    def get_or_make(self, key: Hashable, make: Callable[[], T], nbytes: Callable[[T], int]) -> T:
        """Return the memoised value for `key`, computing it (outside the lock) on a miss."""
        with self._lock:
            self._asked[key] = self._asked.get(key, 0) + 1
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

    def times_asked(self, key: Hashable) -> int:
        """How many recent renders asked for `key`."""
        with self._lock:
            return self._asked.get(key, 0)

    def __len__(self) -> int:
        return len(self._cache)
