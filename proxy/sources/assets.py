"""Content-addressed asset store: checked uploads written atomically, read back by id."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from ..atomic import host_prefix, remove_temp_files, write_atomic
from ..errors import StoreFull, UnknownAsset
from .sniff import check_image, header_info

ID_LENGTH = 32
_ID = re.compile(r"^[0-9a-f]{32}$")
# A temp file this old was left by a crash: an upload's write takes well under a second, and
# on a volume several hosts share (docs/operations.md) a younger one is another host's upload.
STALE_TEMP_S = 3600.0
# How long a measured total of the store stays trusted (other hosts add to a shared volume).
USAGE_TTL_S = 30.0


@dataclass(frozen=True)
class AssetInfo:
    """What an upload is: its id (sha256 prefix), format, size and byte count."""

    id: str
    fmt: str
    width: int
    height: int
    bytes: int


class AssetBackend(Protocol):
    """The asset store interface, so a shared store can replace the local disk."""

    def put(self, data: bytes, *, allowed: Collection[str], max_pixels: int,
            max_frames: int) -> AssetInfo: ...

    def get(self, asset_id: str) -> bytes: ...

    def exists(self, asset_id: str) -> bool: ...

    def info(self, asset_id: str) -> AssetInfo: ...


def asset_id(data: bytes) -> str:
    """The id of these bytes: the first 32 hex digits (128 bits) of their SHA-256."""
    return hashlib.sha256(data).hexdigest()[:ID_LENGTH]


class AssetStore:
    """Local-disk AssetBackend: `<root>/<id>` holds the bytes, `<root>/<id>.json` the info.

    Files appear only by os.replace of a fsynced temp file (`.tmp-<host>-<pid>-*`), so a crash
    mid-write never leaves a partial asset under a real id; temp files older than
    STALE_TEMP_S are removed on start. `max_bytes` (0: no bound) caps the stored bytes.
    """

    def __init__(self, root: Path, *, max_bytes: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._clock = clock
        self._usage: tuple[float, int] | None = None     # (measured at, bytes)
        self._lock = threading.Lock()
        self._prefix = host_prefix()
        remove_temp_files(self.root, older_than_s=STALE_TEMP_S)

    def put(self, data: bytes, *, allowed: Collection[str], max_pixels: int,
            max_frames: int) -> AssetInfo:
        """Check and store `data`; the same bytes give the same id and are not rewritten."""
        fmt = check_image(data, allowed=allowed, max_pixels=max_pixels, max_frames=max_frames)
        aid = asset_id(data)
        if self.exists(aid):
            return self.info(aid)
        width, height, _ = header_info(data, fmt)
        info = AssetInfo(id=aid, fmt=fmt, width=width, height=height, bytes=len(data))
        self._reserve(len(data))
        # Data first, info last: `exists` looks at the info file, so a crash between the two
        # leaves an asset that is re-written by the next upload, never a half one.
        self._write(aid, data)
        self._write(f"{aid}.json", json.dumps(asdict(info)).encode())
        return info

    def get(self, asset_id: str) -> bytes:
        """The bytes of an asset; NotFound for an unknown or malformed id."""
        path = self._path(asset_id)
        if not self.exists(asset_id):
            raise UnknownAsset("no such asset", detail=asset_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise UnknownAsset("no such asset", detail=asset_id) from None

    def exists(self, asset_id: str) -> bool:
        """True when a complete asset with this id is stored."""
        return _ID.match(asset_id) is not None and (self.root / f"{asset_id}.json").is_file()

    def info(self, asset_id: str) -> AssetInfo:
        """Format, size and byte count of an asset; NotFound for an unknown or malformed id."""
        self._path(asset_id)
        try:
            raw = json.loads((self.root / f"{asset_id}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnknownAsset("no such asset", detail=asset_id) from None
        return AssetInfo(id=str(raw["id"]), fmt=str(raw["fmt"]), width=int(raw["width"]),
                         height=int(raw["height"]), bytes=int(raw["bytes"]))

    def _path(self, asset_id: str) -> Path:
        # Strict hex: no separators, dots or case variants can reach the filesystem.
        if not isinstance(asset_id, str) or _ID.match(asset_id) is None:
            raise UnknownAsset("no such asset", detail=f"malformed asset id {asset_id!r}"[:120])
        return self.root / asset_id

    def _write(self, name: str, data: bytes) -> None:
        write_atomic(self.root / name, data, prefix=self._prefix)

    def used_bytes(self) -> int:
        """Bytes of the stored assets (measured at most USAGE_TTL_S ago, plus own writes)."""
        with self._lock:
            now = self._clock()
            if self._usage is None or now - self._usage[0] > USAGE_TTL_S:
                total = 0
                with os.scandir(self.root) as entries:
                    for entry in entries:
                        if not entry.name.startswith("."):
                            with contextlib.suppress(OSError):
                                total += entry.stat(follow_symlinks=False).st_size
                self._usage = (now, total)
            return self._usage[1]

    def _reserve(self, size: int) -> None:
        if self.max_bytes <= 0:
            return
        used = self.used_bytes()
        if used + size > self.max_bytes:
            raise StoreFull(f"the asset store is full ({self.max_bytes} bytes, "
                            "sources.assets_max_bytes)")
        with self._lock:
            if self._usage is not None:
                self._usage = (self._usage[0], self._usage[1] + size)
