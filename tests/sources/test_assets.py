"""The content-addressed asset store: idempotent, atomic, strict ids."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from proxy.errors import BadSource, NotFound, StoreFull
from proxy.sources.assets import STALE_TEMP_S, AssetBackend, AssetStore, asset_id
from tests.sources.images import png_flood, real

LIMITS = {"allowed": {"jpeg", "png"}, "max_pixels": 1_000_000, "max_frames": 1}


def visible(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_put_then_get_round_trips(tmp_path: Path) -> None:
    store: AssetBackend = AssetStore(tmp_path)
    data = real(".png")
    info = store.put(data, **LIMITS)
    assert (info.fmt, info.width, info.height, info.bytes) == ("png", 64, 48, len(data))
    assert info.id == asset_id(data) and len(info.id) == 32
    assert store.exists(info.id)
    assert store.get(info.id) == data
    assert store.info(info.id) == info


def test_same_bytes_same_id_and_no_rewrite(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = AssetStore(tmp_path)
    data = real(".jpg")
    first = store.put(data, **LIMITS)

    def no_write(*args: object) -> None:
        raise AssertionError("an existing asset was rewritten")

    monkeypatch.setattr(os, "replace", no_write)
    assert store.put(data, **LIMITS) == first


def test_crash_mid_write_leaves_no_asset_and_no_temp(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = AssetStore(tmp_path)
    data = real(".png")

    def crash(*args: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        store.put(data, **LIMITS)
    assert visible(tmp_path) == []
    assert not store.exists(asset_id(data))
    with pytest.raises(NotFound):
        store.get(asset_id(data))


def test_stale_temp_files_are_removed_on_start(tmp_path: Path) -> None:
    stale = tmp_path / ".tmp-abc-1-ff"
    stale.write_bytes(b"partial")
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    AssetStore(tmp_path)
    assert visible(tmp_path) == []


def test_another_hosts_upload_in_progress_survives_a_start(tmp_path: Path) -> None:
    # The docs recommend a volume shared by every host: a fresh temp file is someone's upload
    # being written (start-up cleanup deleted it before, failing that upload's rename).
    in_flight = tmp_path / ".tmp-otherhost-42-abcd"
    in_flight.write_bytes(b"being written")
    AssetStore(tmp_path)
    assert in_flight.exists()


def test_temp_files_name_their_host_and_process(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import proxy.atomic as atomic

    seen: list[str] = []
    real_write = atomic.write_temp

    def spy(folder: Path, data: bytes, **kwargs: object) -> Path:
        path = real_write(folder, data, **kwargs)  # type: ignore[arg-type]
        seen.append(path.name)
        return path

    monkeypatch.setattr(atomic, "write_temp", spy)
    AssetStore(tmp_path).put(real(".png"), **LIMITS)
    assert seen and all(n.startswith(atomic.host_prefix()) for n in seen)
    assert socket.gethostname()[:4] in atomic.host_prefix() and f"-{os.getpid()}-" in seen[0]


def test_quota_refuses_uploads_past_it(tmp_path: Path) -> None:
    small, other = real(".png", 64, 48), real(".png", 65, 48)
    store = AssetStore(tmp_path, max_bytes=len(small) + len(other) // 2)
    store.put(small, **LIMITS)
    with pytest.raises(StoreFull) as info:
        store.put(other, **LIMITS)
    assert info.value.status == 507
    assert not store.exists(asset_id(other))
    store.put(small, **LIMITS)   # the same bytes again are not new bytes
    assert AssetStore(tmp_path, max_bytes=0).put(other, **LIMITS).bytes == len(other)


def test_data_without_info_is_not_an_asset_and_is_repaired(tmp_path: Path) -> None:
    store = AssetStore(tmp_path)
    data = real(".png")
    aid = asset_id(data)
    (tmp_path / aid).write_bytes(data[:10])  # a crash between the two renames
    assert not store.exists(aid)
    store.put(data, **LIMITS)
    assert store.get(aid) == data


@pytest.mark.parametrize("bad", [
    "", "../etc/passwd", "..", "/etc/passwd", "A" * 32, "g" * 32, "0" * 31, "0" * 33,
    "0" * 64, ("0" * 31) + "/", "0" * 16 + "%2e%2e" + "0" * 10, "0" * 32 + "\n", ".tmp-x",
])
def test_bad_ids_are_not_found(tmp_path: Path, bad: str) -> None:
    store = AssetStore(tmp_path)
    assert not store.exists(bad)
    with pytest.raises(NotFound):
        store.get(bad)
    with pytest.raises(NotFound):
        store.info(bad)


def test_unknown_id_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        AssetStore(tmp_path).get("0" * 32)


@pytest.mark.parametrize(("data", "message"), [
    (b"<html></html>", "not an image"),
    (png_flood(50_000, 50_000), "too many pixels"),
    (real(".webp"), "not allowed"),
])
def test_uploads_get_the_same_checks_as_remote_sources(tmp_path: Path, data: bytes,
                                                       message: str) -> None:
    store = AssetStore(tmp_path)
    with pytest.raises(BadSource, match=message):
        store.put(data, **LIMITS)
    assert visible(tmp_path) == []
