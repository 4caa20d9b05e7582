"""The content-addressed asset store: idempotent, atomic, strict ids."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxy.errors import BadSource, NotFound
from proxy.sources.assets import AssetBackend, AssetStore, asset_id
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


def test_leftover_temp_files_are_removed_on_start(tmp_path: Path) -> None:
    (tmp_path / ".tmp-abc-1-ff").write_bytes(b"partial")
    AssetStore(tmp_path)
    assert visible(tmp_path) == []


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
