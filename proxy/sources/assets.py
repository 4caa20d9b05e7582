"""Content-addressed asset store: checked uploads written atomically, read back by id."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from ..atomic import remove_temp_files, write_atomic
from ..errors import UnknownAsset
from .sniff import check_image, header_info

ID_LENGTH = 32
_ID = re.compile(r"^[0-9a-f]{32}$")


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

    Files appear only by os.replace of a fsynced temp file (named `.tmp-*`, removed on
    start), so a crash mid-write never leaves a partial asset under a real id.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        remove_temp_files(self.root)

    def put(self, data: bytes, *, allowed: Collection[str], max_pixels: int,
            max_frames: int) -> AssetInfo:
        """Check and store `data`; the same bytes give the same id and are not rewritten."""
        fmt = check_image(data, allowed=allowed, max_pixels=max_pixels, max_frames=max_frames)
        aid = asset_id(data)
        if self.exists(aid):
            return self.info(aid)
        width, height, _ = header_info(data, fmt)
        info = AssetInfo(id=aid, fmt=fmt, width=width, height=height, bytes=len(data))
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
        write_atomic(self.root / name, data)
