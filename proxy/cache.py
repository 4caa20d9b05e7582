"""Rendered-image caches: a byte-bounded memory LRU, single-flight, and a disk tier."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

from .atomic import TMP_PREFIX, write_temp

__all__ = ["BoundedDict", "ByteLRU", "CachedImage", "DiskCache", "SingleFlight"]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Roughly what the CachedImage object, its strings and the dict slot cost beyond the image
# bytes, so a flood of tiny images cannot hold far more memory than the configured bound.
ENTRY_OVERHEAD_BYTES = 256
# A temp file older than this at start was left by a crash (a write takes milliseconds).
STALE_TEMP_S = 120.0


@dataclass(frozen=True, slots=True)
class CachedImage:
    """One rendered image and the metadata its response headers need."""

    data: bytes
    content_type: str
    width: int
    height: int
    etag: str
    render_ms: float
    fallback_reason: str | None = None
    explain: str | None = None       # text-fit facts as compact JSON, for `debug=1` URLs


def _entry_size(value: CachedImage) -> int:
    """Bytes charged against the memory bound for one entry."""
    return len(value.data) + ENTRY_OVERHEAD_BYTES


class _CountingLRU(LRUCache[str, CachedImage]):
    """LRUCache that counts the evictions it makes to stay under its bound."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, getsizeof=_entry_size)
        self.evictions = 0

    def popitem(self) -> tuple[str, CachedImage]:
        """Evict the least recently used entry and count it."""
        # cachetools calls popitem() from __setitem__ only to make room, so this counts exactly
        # the capacity evictions (ByteLRU never calls popitem itself).
        item = super().popitem()
        self.evictions += 1
        return item


class ByteLRU:
    """In-memory LRU of rendered images bounded by their total size in bytes.

    Not thread-safe: use it from the event loop only (lookups take microseconds).
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self._lru = _CountingLRU(max_bytes)
        self._max_bytes = max_bytes
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> CachedImage | None:
        """Return the entry for key (marking it recently used) or None."""
        value = self._lru.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: CachedImage) -> bool:
        """Store value under key; return False when it is larger than the whole cache."""
        if self._max_bytes == 0:
            return False
        try:
            self._lru[key] = value
        except ValueError:
            # cachetools refuses a value larger than maxsize and leaves any older value in
            # place; drop that too so the cache never answers with something we replaced.
            self._lru.pop(key, None)
            return False
        return True

    @property
    def evictions(self) -> int:
        """Entries dropped to stay under the byte bound."""
        return self._lru.evictions

    @property
    def bytes_used(self) -> int:
        """Bytes currently charged, image data plus per-entry overhead."""
        return int(self._lru.currsize)

    @property
    def max_bytes(self) -> int:
        """The configured bound; 0 means disabled."""
        return self._max_bytes

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, key: object) -> bool:
        return key in self._lru


class BoundedDict(dict[K, V]):
    """A dict that drops its oldest entry beyond `max_entries`.

    First in, first out rather than least recently used: lookups stay the dict's own C
    `get` (cachetools' LRUCache.get costs about a microsecond, a share of a cache hit).
    """

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries

    def __setitem__(self, key: K, value: V) -> None:
        if key not in self and len(self) >= self.max_entries:
            del self[next(iter(self))]
        super().__setitem__(key, value)


class SingleFlight(Generic[K, V]):
    """Coalesce concurrent calls for one key into a single run of the factory.

    The work runs in its own task and every caller awaits it through asyncio.shield, so a
    cancelled caller (the first one included) never cancels the work the others await. The
    work therefore runs to completion even if every caller goes away, which lets a factory
    that fills a cache still finish its job. Results are not kept: once the work is done the
    key is free, so a failure is never cached and the next call starts afresh.
    """

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, factory: Callable[[], Awaitable[V]]) -> V:
        """Return factory()'s result, sharing one call among concurrent callers for key."""
        task = self._tasks.get(key)
        if task is None or task.done():
            task = asyncio.create_task(_await(factory))
            self._tasks[key] = task
            # Registered before any waiter's shield callback, so the key is cleared before
            # the waiters resume: a caller that retries after an error starts a new flight.
            task.add_done_callback(lambda done: self._finish(key, done))
        return await asyncio.shield(task)

    def _finish(self, key: K, task: asyncio.Task[V]) -> None:
        """Forget a finished flight and mark its exception as retrieved."""
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            # Avoid "exception was never retrieved" when every waiter was cancelled.
            task.exception()

    @property
    def in_flight(self) -> int:
        """Keys whose work is running now."""
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel all running work and wait for it to stop (for app shutdown)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _await(factory: Callable[[], Awaitable[V]]) -> V:
    """Await factory() inside a coroutine so it can run as a task."""
    return await factory()


# On-disk entry: MAGIC | sha256(rest) | u32 header length | JSON header | image bytes.
# The digest covers header and data, so a flipped bit or a truncated file reads as a miss.
_MAGIC = b"PSC1"
_DIGEST_LEN = 32
_LEN = struct.Struct(">I")
_PREFIX_LEN = len(_MAGIC) + _DIGEST_LEN + _LEN.size


class DiskCache:
    """Content-addressed disk tier of rendered images, bounded by total file bytes.

    All methods do blocking file I/O: call them through loop.run_in_executor, never directly
    on the event loop (the constructor scans the directory, so build it in an executor or
    before serving). Methods are thread-safe. The index of files lives in memory and is
    built at start, so one process should own a root at a time.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.root = root
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.corrupt = 0
        self._lock = threading.Lock()
        # relative name "ab/cdef..." -> file size, oldest use first
        self._index: OrderedDict[str, int] = OrderedDict()
        self._bytes_used = 0
        root.mkdir(parents=True, exist_ok=True)
        self._scan()
        with self._lock:
            self._evict_over_bound()

    def get(self, key: str) -> CachedImage | None:
        """Return the stored image for key, or None on a miss or an unreadable entry."""
        name = _name(key)
        path = self.root / name
        try:
            with open(path, "rb") as file:
                identity = _identity(os.fstat(file.fileno()))
                blob = file.read()
        except FileNotFoundError:
            with self._lock:
                self.misses += 1
                # Only an outside hand can delete a file the index lists; resync if so.
                if name in self._index and not path.exists():
                    self._drop(name)
            return None
        except OSError:
            logger.warning("disk cache: cannot read %s", path, exc_info=True)
            with self._lock:
                self.misses += 1
            return None
        entry = _decode(blob, key)
        if entry is None:
            logger.warning("disk cache: dropping corrupt entry %s", path)
            with self._lock:
                self.misses += 1
                self.corrupt += 1
                # A put may have replaced the file since we read it; delete only what we read.
                with contextlib.suppress(OSError):
                    if _identity(os.stat(path)) == identity:
                        os.unlink(path)
                        self._drop(name)
            return None
        with self._lock:
            self.hits += 1
            if name in self._index:
                self._index.move_to_end(name)
        with contextlib.suppress(OSError):
            # mtime is the LRU order a restart rebuilds from
            os.utime(path)
        return entry

    def put(self, key: str, value: CachedImage) -> bool:
        """Store value atomically; return False if it was not stored (too big or I/O error).

        A failed write is logged, not raised: the disk tier is only an optimisation.
        """
        blob = _encode(key, value)
        if len(blob) > self.max_bytes:
            return False
        name = _name(key)
        path = self.root / name
        try:
            path.parent.mkdir(exist_ok=True)
            tmp = write_temp(path.parent, blob)
            try:
                # The slow write and fsync happen outside the lock; the rename and the index
                # change happen inside it, so concurrent puts and evictions of one name keep
                # the index equal to what is on disk.
                with self._lock:
                    os.replace(tmp, path)
                    self._remember(name, len(blob))
                    self._evict_over_bound()
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            logger.warning("disk cache: cannot write %s", path, exc_info=True)
            return False
        return True

    @property
    def bytes_used(self) -> int:
        """Total size of the stored entry files."""
        return self._bytes_used

    def __len__(self) -> int:
        return len(self._index)

    def _remember(self, name: str, size: int) -> None:
        """Record name as the most recently used entry; the caller holds the lock."""
        self._drop(name)
        self._index[name] = size
        self._bytes_used += size

    def _drop(self, name: str) -> None:
        """Forget name in the index; the caller holds the lock."""
        size = self._index.pop(name, None)
        if size is not None:
            self._bytes_used -= size

    def _evict_over_bound(self) -> None:
        """Delete least recently used files until under the bound; the caller holds the lock."""
        while self._bytes_used > self.max_bytes and self._index:
            name, size = self._index.popitem(last=False)
            self._bytes_used -= size
            self.evictions += 1
            try:
                (self.root / name).unlink()
            except FileNotFoundError:
                pass
            except OSError:
                logger.warning("disk cache: cannot evict %s", name, exc_info=True)

    def _scan(self) -> None:
        """Index existing entries oldest first and delete temp files left by a crash."""
        found: list[tuple[float, str, int]] = []
        now = time.time()
        with os.scandir(self.root) as subs:
            subdirs = [s for s in subs if s.is_dir(follow_symlinks=False) and _is_hex(s.name, 2)]
        for sub in subdirs:
            with os.scandir(sub.path) as entries:
                for entry in entries:
                    if entry.name.startswith(TMP_PREFIX):
                        # Only stale ones: with a shared root (batch hosts share their disk
                        # tier) a fresh temp file is another process's write in progress, and
                        # deleting it made that host's rename fail and lose the image.
                        with contextlib.suppress(OSError):
                            if entry.stat().st_mtime < now - STALE_TEMP_S:
                                os.unlink(entry.path)
                        continue
                    if not (_is_hex(entry.name, 62) and entry.is_file(follow_symlinks=False)):
                        continue
                    try:
                        stat = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    found.append((stat.st_mtime, f"{sub.name}/{entry.name}", stat.st_size))
        found.sort()
        with self._lock:
            for _, name, size in found:
                self._remember(name, size)


def _name(key: str) -> str:
    """Relative file name for key: sha256 hex split as "ab/cdef..." to keep folders small."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{digest[:2]}/{digest[2:]}"


def _is_hex(text: str, length: int) -> bool:
    """True if text is exactly length lowercase hex digits."""
    return len(text) == length and all(c in "0123456789abcdef" for c in text)


def _encode(key: str, value: CachedImage) -> bytes:
    """Serialise one entry to the on-disk format."""
    header = json.dumps(
        {
            "key": key,
            "content_type": value.content_type,
            "width": value.width,
            "height": value.height,
            "etag": value.etag,
            "render_ms": value.render_ms,
            "fallback_reason": value.fallback_reason,
            "explain": value.explain,
        },
        separators=(",", ":"),
    ).encode()
    body = _LEN.pack(len(header)) + header + value.data
    return _MAGIC + hashlib.sha256(body).digest() + body


def _decode(blob: bytes, key: str) -> CachedImage | None:
    """Parse one entry file; None if it is corrupt, truncated or stored for another key."""
    if len(blob) < _PREFIX_LEN or not blob.startswith(_MAGIC):
        return None
    view = memoryview(blob)
    body = view[len(_MAGIC) + _DIGEST_LEN :]
    if hashlib.sha256(body).digest() != view[len(_MAGIC) : len(_MAGIC) + _DIGEST_LEN]:
        return None
    (header_len,) = _LEN.unpack_from(blob, len(_MAGIC) + _DIGEST_LEN)
    header_end = _PREFIX_LEN + header_len
    if header_end > len(blob):
        return None
    try:
        meta: Any = json.loads(blob[_PREFIX_LEN:header_end])
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta.get("key") != key:
        return None
    content_type, width, height = meta.get("content_type"), meta.get("width"), meta.get("height")
    etag, render_ms, reason = meta.get("etag"), meta.get("render_ms"), meta.get("fallback_reason")
    explain = meta.get("explain")
    if not (
        isinstance(content_type, str)
        and isinstance(width, int)
        and isinstance(height, int)
        and isinstance(etag, str)
        and isinstance(render_ms, int | float)
        and (reason is None or isinstance(reason, str))
    ):
        return None
    return CachedImage(
        data=blob[header_end:],
        content_type=content_type,
        width=width,
        height=height,
        etag=etag,
        render_ms=float(render_ms),
        fallback_reason=reason,
        explain=explain if isinstance(explain, str) else None,
    )


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    """What tells one file apart from its replacement under the same name."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
