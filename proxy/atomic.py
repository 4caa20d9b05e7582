"""Files that appear whole or not at all: temp file in the same folder, then a rename.

A reader (or a restart after a crash) sees either the old file or the complete new one; the
temp files a crash leaves behind are named `.tmp-*` and removed by `remove_temp_files`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from pathlib import Path

TMP_PREFIX = ".tmp-"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def write_temp(folder: Path, data: bytes, *, fsync: bool = True, prefix: str = TMP_PREFIX
               ) -> Path:
    """Write `data` to a new temp file in `folder` (ready for a rename) and return its path.

    The file gets the mode `open()` would give (0666 less the umask, so usually 0644): it is
    created with that mode, which the kernel masks, where mkstemp's private 0600 would make
    rendered images unreadable to the web server. Plain `os` calls: a batch writes one file
    per row, and mkstemp, a file object and an fchmod cost about 40 µs of that per file.
    """
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(6)}"
        try:
            fd = os.open(path, _CREATE, 0o666)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"no free temp name in {folder}")
    try:
        with memoryview(data) as view:
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
        if fsync:
            # Without it a crash after the rename can leave an empty file under the final
            # name (ext4 delayed allocation).
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    return path


def write_atomic(path: Path, data: bytes, *, fsync: bool = True, prefix: str = TMP_PREFIX
                 ) -> None:
    """Write `data` to `path` by rename of a finished temp file: `path` is whole or absent."""
    tmp = write_temp(path.parent, data, fsync=fsync, prefix=prefix)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable: it is on disk once the directory entry is."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def host_prefix() -> str:
    """A temp-file prefix naming this host and process: on a volume several hosts share, each
    one's writes in progress are told apart (`.tmp-<host>-<pid>-`)."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:64]
    return f"{TMP_PREFIX}{host}-{os.getpid()}-"


def remove_temp_files(folder: Path, pattern: str = f"{TMP_PREFIX}*", *,
                      older_than_s: float = 0.0) -> None:
    """Remove what interrupted writes left in `folder` (never complete files).

    With `older_than_s`, only temp files last modified that long ago: on a shared folder a
    younger one may be another process's write in progress.
    """
    cutoff = time.time() - older_than_s
    for stale in folder.glob(pattern):
        with contextlib.suppress(OSError):
            if older_than_s <= 0 or stale.stat().st_mtime < cutoff:
                stale.unlink()
