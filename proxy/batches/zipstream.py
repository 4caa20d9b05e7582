"""A ZIP written as a stream: entries go out as they are added, nothing is built whole.

zipfile writes to any object with `write()`; without `seek()` it falls back to data
descriptors and tracks offsets itself, so each entry's bytes can be sent and dropped at
once. Images are stored, not deflated: JPEG, PNG, WebP and AVIF are compressed already.
"""

from __future__ import annotations

import time
import zipfile


class _Sink:
    """What zipfile writes into: a buffer drained after every entry."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing buffered below us."""

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


class ZipStream:
    """`add(name, data)` and `finish()` return the bytes to send next."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, mode="w",  # type: ignore[call-overload]
                                    compression=zipfile.ZIP_STORED, allowZip64=True)
        self._stamp = time.gmtime()[:6]

    def add(self, name: str, data: bytes) -> bytes:
        """Write one stored entry; the bytes that make it."""
        info = zipfile.ZipInfo(name, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, data)
        return self._sink.drain()

    def finish(self) -> bytes:
        """The central directory: the last bytes of the archive."""
        self._zip.close()
        return self._sink.drain()
