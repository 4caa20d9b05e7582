"""Per-API-key quotas on /v1/render and /v1/batch, and batch minting on its own pool."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from proxy.config import Settings
from tests.web.test_api import API_KEY, AUTH, api_keys, call

OTHER = {"Authorization": "Bearer other-key"}
RENDER = {"template": "social-card", "variables": {"name": "Ada"}, "output": {"format": "png"}}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(api={"keys": api_keys("other-key", API_KEY),
                                 "renders_per_minute_per_key": 2,
                                 "batch_items_per_hour_per_key": 5})


def batch(n: int) -> dict[str, Any]:
    return {"template": "social-card",
            "items": [{"variables": {"name": f"N{i}"}} for i in range(n)]}


async def test_render_quota_is_per_key(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            assert (await call(session, "POST", base + "/v1/render", json=RENDER))[0] == 200
        status, body, resp = await call(session, "POST", base + "/v1/render", json=RENDER)
        assert status == 429 and body["code"] == "quota_exceeded"
        assert int(resp.headers["Retry-After"]) >= 1
        # the other key is not affected by this one's use
        status, _, _ = await call(session, "POST", base + "/v1/render", json=RENDER,
                                  headers=OTHER)
        assert status == 200


async def test_batch_item_quota_is_per_key(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    async with aiohttp.ClientSession() as session:
        status, body, _ = await call(session, "POST", base + "/v1/batch", json=batch(6))
        assert status == 429 and "api.batch_items_per_hour_per_key" in body["error"]
        assert (await call(session, "POST", base + "/v1/batch", json=batch(3)))[0] == 200
        assert (await call(session, "POST", base + "/v1/batch", json=batch(3)))[0] == 429
        status, _, _ = await call(session, "POST", base + "/v1/batch", json=batch(3),
                                  headers=OTHER)
        assert status == 200


async def test_batch_items_are_minted_on_their_own_pool(  # type: ignore[no-untyped-def]
        live, monkeypatch) -> None:
    import proxy.web.api_batch as api_batch

    threads: list[str] = []
    real = api_batch._mint_all

    def spy(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(api_batch, "_mint_all", spy)
    base, _ = live
    async with aiohttp.ClientSession() as session:
        assert (await call(session, "POST", base + "/v1/batch", json=batch(2),
                           headers=AUTH))[0] == 200
    assert len(threads) == 1 and threads[0].startswith("mint")
