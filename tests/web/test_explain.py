"""Explain mode: `picstream render --explain` and the `X-Explain` header of signed debug URLs."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from proxy.cache import CachedImage, DiskCache
from proxy.cli import main
from proxy.config import replace
from proxy.urls import sign_url
from tests.conftest import TEST_KEYS

LONG_NAME = "Maximiliane Wolfeschlegelstein"


async def _get(url: str) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        await resp.read()
        return resp.status, dict(resp.headers)


async def test_debug_url_carries_fits_on_miss_and_hit(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign_url("social-card", {"name": LONG_NAME}, keys=TEST_KEYS, fmt="png", debug=True,
                   base_url=base)
    status, first = await _get(url)
    assert status == 200 and first["X-Cache"] == "render"
    fits = {(f["layer"], f.get("part", "")): f for f in json.loads(first["X-Explain"])}
    # static "picstream" text too, not only variables; the name and title in the group
    assert set(fits) >= {(2, ""), (5, ".children[0]"), (5, ".children[1]")}
    name = fits[(5, ".children[0]")]
    assert name["size"] < 76 and name["lines"] == 1 and name["cut"] is False
    status, second = await _get(url)
    assert second["X-Cache"] == "memory"
    assert second["X-Explain"] == first["X-Explain"]


async def test_plain_url_has_no_explain_header(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign_url("social-card", {"name": LONG_NAME}, keys=TEST_KEYS, fmt="png", base_url=base)
    status, headers = await _get(url)
    assert status == 200
    assert "X-Explain" not in headers


def test_disk_tier_keeps_the_explain_facts(tmp_path: Path) -> None:
    image = CachedImage(data=b"x" * 10, content_type="image/png", width=1, height=1,
                        etag='"e"', render_ms=1.0, explain='[{"layer":5}]')
    DiskCache(tmp_path, 1 << 20).put("k", image)
    found = DiskCache(tmp_path, 1 << 20).get("k")
    assert found is not None and found.explain == '[{"layer":5}]'


def test_cli_render_explain_prints_each_text_layer(tmp_path: Path, settings,  # type: ignore[no-untyped-def]
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("proxy.cli._settings", lambda args: replace(settings))
    out = tmp_path / "card.png"
    code = main(["render", "social-card", f"name={'W' * 80}", "-o", str(out), "--explain"])
    err = capsys.readouterr().err
    assert code == 0 and out.stat().st_size > 0
    assert "layers[5].children[0]: size 36px, 1 line(s), cut with ellipsis" in err
    assert "layers[5].children[1]: size 40px, 2 line(s), fits" in err
