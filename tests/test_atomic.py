"""Whole-or-nothing files: the final name holds the complete bytes or nothing, never a part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxy import atomic


def test_a_written_file_has_its_bytes_and_the_mode_open_would_give(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic.write_atomic(tmp_path / "card.jpg", b"x" * 100_000, fsync=False)
    finally:
        os.umask(old)
    assert (tmp_path / "card.jpg").read_bytes() == b"x" * 100_000
    assert (tmp_path / "card.jpg").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["card.jpg"]


def test_a_write_that_fails_midway_leaves_neither_the_file_nor_a_temp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_write = os.write

    def failing_write(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_write(fd, bytes(data)[:1000])        # a short write: the loop goes on

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(OSError, match="No space"):
        atomic.write_atomic(tmp_path / "card.jpg", b"y" * 50_000, fsync=False)
    assert list(tmp_path.iterdir()) == []
    assert calls == [50_000, 49_000]


def test_a_temp_name_already_taken_is_skipped_not_overwritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda _: next(names))
    first = atomic.write_temp(tmp_path, b"first", fsync=False)
    second = atomic.write_temp(tmp_path, b"second", fsync=False)
    assert first.name == ".tmp-aaaaaaaaaaaa" and second.name == ".tmp-bbbbbbbbbbbb"
    assert first.read_bytes() == b"first" and second.read_bytes() == b"second"
