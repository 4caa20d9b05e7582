"""Scratch folders for the bench's outputs, deleted when the whole bench ends, not per section.

On ext4 without a journal (this build machine's), allocating an inode skips every inode freed
in the last 30 seconds (the kernel's `recently_deleted` check, `perf` shows it). Right after a
section deleted its 10,000 files, the next batch's render processes spent about 1.1 ms of
system time a file on that scan, against 0.2 ms otherwise (4,000 real-workload rows: 208
against 240 rows/s). Deleting everything at the end keeps one section's clean-up out of the
next section's figures.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def scratch() -> Iterator[str]:
    """A new folder, like tempfile.TemporaryDirectory's, removed when the process exits."""
    path = tempfile.mkdtemp(prefix="picstream-bench-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    yield path
