"""Tests for proxy/cache.py: ByteLRU, SingleFlight and DiskCache."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from proxy.cache import (
    ENTRY_OVERHEAD_BYTES,
    STALE_TEMP_S,
    ByteLRU,
    CachedImage,
    DiskCache,
    SingleFlight,
)

KB = 1024


def image(size: int, fill: bytes = b"x", *, reason: str | None = None) -> CachedImage:
    """A CachedImage of size bytes."""
    return CachedImage(
        data=fill * size,
        content_type="image/png",
        width=1200,
        height=630,
        etag='"abc"',
        render_ms=3.25,
        fallback_reason=reason,
    )


def entry_path(root: Path, key: str) -> Path:
    """Where DiskCache stores key (its documented layout)."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return root / digest[:2] / digest[2:]


def visible_files(root: Path) -> list[Path]:
    """Every file under root."""
    return [p for p in root.rglob("*") if p.is_file()]


# ByteLRU


def test_lru_is_bounded_by_bytes_and_counts_evictions() -> None:
    lru = ByteLRU(350 * KB)
    for i in range(10):
        assert lru.put(f"k{i}", image(100 * KB))
    assert len(lru) <= 3
    assert lru.bytes_used <= 350 * KB
    assert lru.bytes_used == len(lru) * (100 * KB + ENTRY_OVERHEAD_BYTES)
    assert lru.evictions == 10 - len(lru)
    assert lru.get("k9") is not None
    assert lru.get("k0") is None
    assert (lru.hits, lru.misses) == (1, 1)


def test_lru_evicts_least_recently_used() -> None:
    lru = ByteLRU(350 * KB)
    for key in ("a", "b", "c"):
        lru.put(key, image(100 * KB))
    assert lru.get("a") is not None  # "b" is now the oldest
    lru.put("d", image(100 * KB))
    assert "a" in lru and "b" not in lru


def test_lru_oversized_entry_is_not_stored() -> None:
    lru = ByteLRU(100 * KB)
    lru.put("small", image(10 * KB))
    assert lru.put("huge", image(200 * KB)) is False
    assert lru.get("huge") is None
    assert "small" in lru
    assert lru.evictions == 0


def test_lru_oversized_replacement_drops_old_value() -> None:
    lru = ByteLRU(100 * KB)
    lru.put("k", image(10 * KB))
    assert lru.put("k", image(200 * KB)) is False
    assert "k" not in lru


def test_lru_zero_size_is_disabled() -> None:
    lru = ByteLRU(0)
    assert lru.put("k", image(1)) is False
    assert lru.get("k") is None
    assert len(lru) == 0


# SingleFlight


async def test_single_flight_runs_factory_once_for_concurrent_callers() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def factory() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    callers = [asyncio.create_task(flight.run("k", factory)) for _ in range(100)]
    await asyncio.sleep(0)
    assert flight.in_flight == 1
    release.set()
    assert await asyncio.gather(*callers) == [42] * 100
    assert calls == 1
    assert flight.in_flight == 0


async def test_single_flight_error_reaches_all_and_next_call_retries() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        raise RuntimeError("boom")

    callers = [asyncio.create_task(flight.run("k", failing)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    assert flight.in_flight == 0

    async def working() -> str:
        return "ok"

    assert await flight.run("k", working) == "ok"


async def test_single_flight_retry_right_after_error_starts_new_flight() -> None:
    flight: SingleFlight[str, str] = SingleFlight()

    async def failing() -> str:
        raise RuntimeError("boom")

    async def working() -> str:
        return "ok"

    with pytest.raises(RuntimeError):
        await flight.run("k", failing)
    assert await flight.run("k", working) == "ok"


async def test_single_flight_cancelled_waiter_does_not_cancel_others() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def factory() -> int:
        await release.wait()
        return 7

    # The first caller is the one that started the work: cancelling it is the hard case.
    leader = asyncio.create_task(flight.run("k", factory))
    await asyncio.sleep(0)
    others = [asyncio.create_task(flight.run("k", factory)) for _ in range(5)]
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    release.set()
    assert await asyncio.wait_for(asyncio.gather(*others), timeout=1) == [7] * 5


async def test_single_flight_keys_are_independent() -> None:
    flight: SingleFlight[str, str] = SingleFlight()

    async def make(value: str) -> str:
        await asyncio.sleep(0)
        return value

    a, b = await asyncio.gather(
        flight.run("a", lambda: make("A")), flight.run("b", lambda: make("B"))
    )
    assert (a, b) == ("A", "B")


async def test_single_flight_aclose_cancels_running_work() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    never = asyncio.Event()

    async def factory() -> int:
        await never.wait()
        return 1

    caller = asyncio.create_task(flight.run("k", factory))
    await asyncio.sleep(0)
    await flight.aclose()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert flight.in_flight == 0


# DiskCache


def test_disk_round_trip(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10 * KB * KB)
    value = image(5 * KB, b"\x00\xff", reason="avatar: fetch failed")
    assert cache.put("spec|v1", value)
    assert cache.get("spec|v1") == value
    assert cache.get("other") is None
    assert (cache.hits, cache.misses) == (1, 1)
    assert entry_path(tmp_path, "spec|v1").is_file()


def test_disk_survives_a_new_instance(tmp_path: Path) -> None:
    DiskCache(tmp_path, 10 * KB * KB).put("k", image(3 * KB))
    reopened = DiskCache(tmp_path, 10 * KB * KB)
    assert len(reopened) == 1
    assert reopened.bytes_used == entry_path(tmp_path, "k").stat().st_size
    assert reopened.get("k") == image(3 * KB)


@pytest.mark.parametrize("damage", ["flip_data", "flip_header", "truncate", "empty"])
def test_disk_corrupt_file_is_a_miss_and_removed(tmp_path: Path, damage: str) -> None:
    cache = DiskCache(tmp_path, 10 * KB * KB)
    cache.put("k", image(4 * KB))
    path = entry_path(tmp_path, "k")
    blob = bytearray(path.read_bytes())
    if damage == "flip_data":
        blob[-10] ^= 0xFF
    elif damage == "flip_header":
        blob[50] ^= 0x01
    elif damage == "truncate":
        del blob[len(blob) // 2 :]
    else:
        blob.clear()
    path.write_bytes(bytes(blob))
    assert cache.get("k") is None
    assert not path.exists()
    assert cache.corrupt == 1
    assert len(cache) == 0 and cache.bytes_used == 0


def test_disk_bound_evicts_oldest(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 35 * KB)
    for i in range(3):
        cache.put(f"k{i}", image(10 * KB))
    assert cache.get("k0") is not None  # k1 becomes the oldest
    cache.put("k3", image(10 * KB))
    assert cache.evictions == 1
    assert cache.bytes_used <= 35 * KB
    assert not entry_path(tmp_path, "k1").exists()
    assert {k for k in ("k0", "k1", "k2", "k3") if cache.get(k)} == {"k0", "k2", "k3"}
    assert sum(p.stat().st_size for p in visible_files(tmp_path)) == cache.bytes_used


def test_disk_restart_evicts_by_mtime_when_bound_shrinks(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, KB * KB)
    for i in range(3):
        cache.put(f"k{i}", image(10 * KB))
        os.utime(entry_path(tmp_path, f"k{i}"), (1000 + i, 1000 + i))
    os.utime(entry_path(tmp_path, "k0"), (2000, 2000))  # most recently used
    smaller = DiskCache(tmp_path, 25 * KB)
    assert len(smaller) == 2
    assert not entry_path(tmp_path, "k1").exists()
    assert smaller.get("k0") is not None and smaller.get("k2") is not None


def test_disk_oversized_entry_is_not_stored(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10 * KB)
    assert cache.put("k", image(20 * KB)) is False
    assert visible_files(tmp_path) == []


def test_disk_crash_mid_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DiskCache(tmp_path, KB * KB)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    assert cache.put("k", image(KB)) is False
    monkeypatch.undo()
    assert cache.get("k") is None
    assert len(cache) == 0
    assert visible_files(tmp_path) == []


def test_disk_leftover_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    DiskCache(tmp_path, KB * KB).put("k", image(KB))
    leftover = entry_path(tmp_path, "k").parent / ".tmp-crashed"
    leftover.write_bytes(b"partial")
    old = time.time() - STALE_TEMP_S - 1
    os.utime(leftover, (old, old))
    reopened = DiskCache(tmp_path, KB * KB)
    assert not leftover.exists()
    assert len(reopened) == 1


def test_disk_start_keeps_another_process_s_write_in_progress(tmp_path: Path) -> None:
    # Batch hosts share one disk tier: a host starting must not delete the temp file another
    # host is about to rename (that lost images in the multi-host restart test).
    DiskCache(tmp_path, KB * KB).put("k", image(KB))
    writing = entry_path(tmp_path, "k").parent / ".tmp-writing"
    writing.write_bytes(b"partial")
    DiskCache(tmp_path, KB * KB)
    assert writing.exists()


async def test_single_flight_work_finishes_when_every_caller_is_cancelled() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()
    finished = asyncio.Event()

    async def factory() -> int:
        await release.wait()
        finished.set()
        return 1

    caller = asyncio.create_task(flight.run("k", factory))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    await asyncio.wait_for(finished.wait(), timeout=1)
    await asyncio.sleep(0)
    assert flight.in_flight == 0


def test_disk_concurrent_threads_keep_accounting_consistent(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = DiskCache(tmp_path, 60 * KB)

    def work(i: int) -> None:
        cache.put(f"k{i % 20}", image(KB * (1 + i % 5)))
        cache.get(f"k{(i * 7) % 20}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(400)))
    on_disk = sum(p.stat().st_size for p in visible_files(tmp_path))
    assert cache.bytes_used == on_disk <= 60 * KB
    assert len(cache) == len(visible_files(tmp_path))
