"""Batch API features on both stores: dedupe, Idempotency-Key, ZIP results, cancel, webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.batches.webhook import SIGNATURE_HEADER, verify
from proxy.config import Settings
from proxy.web.keys import SERVICE
from tests.support.servers import free_port, start_app

API_KEY = "batch-api-key-0123456789"
OTHER_KEY = "batch-other-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SECRET = "webhook-secret-for-tests"


def keys() -> tuple[str, ...]:
    return tuple(f"k{i}:{hashlib.sha256(k.encode()).hexdigest()}"
                 for i, k in enumerate((API_KEY, OTHER_KEY)))


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(settings_factory: Callable[..., Settings], store_kind: str,
                  request: pytest.FixtureRequest) -> Callable[..., Settings]:
    redis_url = ""
    if store_kind == "redis":
        redis_url = request.getfixturevalue("redis_server").url

    def make(**batch: Any) -> Settings:
        return settings_factory(
            api={"keys": keys(), "max_batch_items": 2000},
            batch={"redis_url": redis_url, "visibility_timeout_s": 2.0,
                   "webhook_backoff_s": 0.05, **batch})

    return make


@pytest.fixture
async def live(
        make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[str, web.Application]]:
    server, app = await start_app(make_settings(webhook_secret=SECRET))
    try:
        yield f"http://127.0.0.1:{server.port}", app
    finally:
        await server.close()


async def post(session: aiohttp.ClientSession, base: str, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with session.post(f"{base}/v1/batch", json=body,
                            headers={**AUTH, **(headers or {})}) as resp:
        return resp.status, await resp.json(), resp.headers


async def wait_done(session: aiohttp.ClientSession, base: str, batch_id: str,
                    states: tuple[str, ...] = ("done",)) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with session.get(f"{base}/v1/batch/{batch_id}", headers=AUTH) as resp:
            body = await resp.json()
        if body["state"] in states:
            return dict(body)
        await asyncio.sleep(0.05)
    raise AssertionError("batch did not finish")


def cards(names: list[str]) -> dict[str, Any]:
    return {"template": "social-card", "prerender": True,
            "output": {"format": "jpeg", "width": 120},
            "items": [{"variables": {"name": n}} for n in names]}


async def test_identical_items_render_once(live: tuple[str, web.Application]) -> None:
    base, app = live
    names = [f"Same {i % 5}" for i in range(40)]
    before = app[SERVICE].renders
    async with aiohttp.ClientSession() as session:
        status, created, _ = await post(session, base, cards(names))
        assert status == 202
        final = await wait_done(session, base, created["id"])
    assert (final["done"], final["failed"]) == (40, 0)
    assert app[SERVICE].renders - before == 5
    urls = [item["url"] for item in created["items"]]
    assert len(set(urls)) == 5 and urls[0] == urls[5] == urls[35]


async def test_idempotency_key_answers_the_same_batch(live: tuple[str, web.Application]) -> None:
    base, _ = live
    async with aiohttp.ClientSession() as session:
        first = await post(session, base, cards(["A", "B"]), {"Idempotency-Key": "order-1"})
        again = await post(session, base, cards(["A", "B"]), {"Idempotency-Key": "order-1"})
        other = await post(session, base, cards(["A", "B"]), {"Idempotency-Key": "order-2"})
        as_other_key = await post(session, base, cards(["A", "B"]),
                                  {"Idempotency-Key": "order-1",
                                   "Authorization": f"Bearer {OTHER_KEY}"})
        bad = await post(session, base, cards(["A"]), {"Idempotency-Key": "x" * 300})
    assert first[0] == again[0] == 202
    assert again[1]["id"] == first[1]["id"] and again[2]["Idempotent-Replayed"] == "true"
    assert [i["url"] for i in again[1]["items"]] == [i["url"] for i in first[1]["items"]]
    assert other[1]["id"] != first[1]["id"]
    assert as_other_key[1]["id"] != first[1]["id"]
    assert bad[0] == 400


async def test_results_zip_streams_every_rendered_item(live: tuple[str, web.Application]) -> None:
    base, _ = live
    body = cards([f"Zip {i}" for i in range(12)] + ["Zip 0"])
    body["items"][3] = {"variables": {"accent": "not-a-colour"}}
    async with aiohttp.ClientSession() as session:
        status, created, _ = await post(session, base, body)
        assert created["zip_url"] == f"/v1/batch/{created['id']}/results.zip"
        await wait_done(session, base, created["id"])
        async with session.get(base + created["zip_url"], headers=AUTH) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
            data = await resp.read()
        minted = {"template": "social-card", "items": [{"variables": {"name": "A"}}]}
        status, created, _ = await post(session, base, minted)
        async with session.get(f"{base}/v1/batch/{created['id']}/results.zip",
                               headers=AUTH) as resp:
            assert resp.status == 400
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = sorted(archive.namelist())
    assert names == [f"{i:02d}.jpeg" for i in range(13) if i != 3]
    assert archive.read("00.jpeg") == archive.read("12.jpeg")
    image = pyvips.Image.new_from_buffer(archive.read("05.jpeg"), "")
    assert (image.width, image.get("vips-loader")) == (120, "jpegload_buffer")


async def test_cancel_stops_a_running_batch(live: tuple[str, web.Application]) -> None:
    base, _ = live
    async with aiohttp.ClientSession() as session:
        status, created, _ = await post(session, base, cards([f"C {i}" for i in range(1500)]))
        async with session.delete(f"{base}/v1/batch/{created['id']}", headers=AUTH) as resp:
            assert resp.status == 200
            cancelled = await resp.json()
        assert cancelled["state"] == "cancelled"
        await asyncio.sleep(0.5)
        later = await wait_done(session, base, created["id"], ("cancelled",))
        await asyncio.sleep(0.3)
        final = await wait_done(session, base, created["id"], ("cancelled",))
        async with session.delete(f"{base}/v1/batch/nope", headers=AUTH) as resp:
            assert resp.status == 404
    assert final["done"] < 1500 and final["done"] == later["done"]


@pytest.fixture
async def hook_server() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    calls: list[tuple[dict[str, str], bytes]] = []
    app = web.Application()

    async def hook(request: web.Request) -> web.Response:
        calls.append((dict(request.headers), await request.read()))
        # Fails twice, then accepts: the sender must retry with backoff.
        return web.Response(status=500 if len(calls) <= 2 else 200)

    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}/hook", calls
    await server.close()


async def test_webhook_is_signed_and_retried_until_delivered(
        make_settings: Callable[..., Settings],
        hook_server: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    url, calls = hook_server
    settings = make_settings(webhook_secret=SECRET)
    from proxy.config import replace
    settings = replace(settings, sources={"allow_loopback": True})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:
            body = {**cards(["Hook 1", "Hook 2"]), "webhook_url": url}
            status, created, _ = await post(session, base, body)
            assert status == 202, created
            await wait_done(session, base, created["id"])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                progress = await wait_done(session, base, created["id"])
                if progress.get("webhook") == "delivered":
                    break
                await asyncio.sleep(0.05)
    finally:
        await server.close()
    assert progress["webhook"] == "delivered"
    assert len(calls) == 3
    for headers, raw in calls:
        assert verify(SECRET, headers[SIGNATURE_HEADER], raw)
    event = json.loads(calls[-1][1])
    assert (event["type"], event["done"], event["total"]) == ("batch.done", 2, 2)
    assert [h["PicStream-Attempt"] for h, _ in calls] == ["1", "2", "3"]


@pytest.mark.parametrize(("target", "secret", "reason"), [
    ("http://127.0.0.1:9/hook", SECRET, "not allowed"),       # loopback without the test switch
    ("http://10.1.2.3/hook", SECRET, "not allowed"),
    ("ftp://example.com/hook", SECRET, "must start with http"),
    ("https://example.com/hook", "", "batch.webhook_secret"),
])
async def test_webhook_urls_go_through_the_source_address_guard(
        make_settings: Callable[..., Settings], target: str, secret: str, reason: str) -> None:
    server, _ = await start_app(make_settings(webhook_secret=secret))
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:
            status, body, _ = await post(session, base, {**cards(["A"]), "webhook_url": target})
    finally:
        await server.close()
    assert status == 422
    assert body["errors"][0]["field"] == "webhook_url" and reason in body["errors"][0]["error"]
