"""Two `picstream serve` hosts behind the shipped nginx.conf, one Redis: batches survive hosts.

Both hosts share one disk cache directory (the stored image is the record: a chunk taken
again after its host died finds what that host stored) and log one line per chunk naming the
items they rendered, which is how the test proves that no item was rendered twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.batches.webhook import SIGNATURE_HEADER, verify
from proxy.config import Settings, replace
from tests.nginx.test_nginx import Nginx, nginx_binary, start_nginx
from tests.support.redis_server import RedisServer
from tests.support.servers import ProcessServer, free_port

API_KEY = "multihost-api-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SECRET = "multihost-webhook-secret"
OUTPUT = {"format": "jpeg", "width": 200}


@dataclass
class Receiver:
    """A local webhook receiver that keeps every call."""

    server: TestServer
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    made = Receiver(TestServer(app, host="127.0.0.1", port=free_port()))

    async def hook(request: web.Request) -> web.Response:
        made.calls.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")

    app.router.add_post("/hook", hook)
    await made.server.start_server()
    yield made
    await made.server.close()


@dataclass
class Cluster:
    """nginx, two hosts and Redis, with the settings the hosts were started with."""

    nginx: Nginx
    redis: RedisServer
    settings: Settings
    ports: tuple[int, int]
    hosts: list[ProcessServer]
    disk: Path

    async def start_host(self, which: int) -> ProcessServer:
        settings = replace(self.settings, server={"port": self.ports[which]})
        host = await asyncio.to_thread(ProcessServer, settings)
        self.hosts.append(host)
        return host


@pytest.fixture
async def cluster(settings_factory: Callable[..., Settings], redis_server: RedisServer,
                  tmp_path: Path) -> AsyncIterator[Cluster]:
    nginx_binary()
    ports = (free_port(), free_port())
    nginx = start_nginx(tmp_path / "nginx", list(ports))
    disk = tmp_path / "disk"
    settings = settings_factory(
        server={"public_base_url": nginx.url, "render_threads": 2, "log_format": "json"},
        api={"keys": (f"test:{hashlib.sha256(API_KEY.encode()).hexdigest()}",),
             "max_batch_items": 2000, "batch_concurrency": 2},
        batch={"redis_url": redis_server.url, "visibility_timeout_s": 2.0, "chunk_items": 16,
               "webhook_secret": SECRET, "webhook_backoff_s": 0.2},
        cache={"disk_dir": str(disk)},
        sources={"allow_loopback": True})
    made = Cluster(nginx, redis_server, settings, ports, [], disk)
    try:
        await asyncio.gather(made.start_host(0), made.start_host(1))
        yield made
    finally:
        for host in made.hosts:
            if host.proc.poll() is None:
                host.stop()
        nginx.stop()


def items(count: int) -> list[dict[str, Any]]:
    return [{"variables": {"headline": "Hello", "name": f"Person {i}"}} for i in range(count)]


async def post_batch(session: aiohttp.ClientSession, base: str, count: int,
                     webhook: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"template": "email-header", "items": items(count),
                            "output": OUTPUT, "prerender": True}
    if webhook:
        body["webhook_url"] = webhook
    async with session.post(f"{base}/v1/batch", json=body, headers=AUTH) as resp:
        assert resp.status == 202, await resp.text()
        return dict(await resp.json())


async def progress(session: aiohttp.ClientSession, base: str, batch_id: str) -> dict[str, Any]:
    for _ in range(50):
        async with session.get(f"{base}/v1/batch/{batch_id}", headers=AUTH) as resp:
            if resp.status == 200:
                return dict(await resp.json())
            # 502/503 while every host behind nginx is restarting: ask again.
            assert resp.status in (502, 503, 504), await resp.text()
        await asyncio.sleep(0.2)
    raise AssertionError("no progress answer")


def chunk_lines(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if '"batch chunk"' in line:
            # stdout (block-buffered prints) and stderr (log lines) share the file, so a
            # log line may follow a print's unterminated tail.
            out.append(json.loads(line[line.index('{"ts"'):]))
    return out


def disk_entries(root: Path) -> int:
    return sum(1 for p in root.glob("*/*") if p.is_file() and not p.name.startswith("."))


async def test_host_killed_mid_batch_the_other_finishes_it(cluster: Cluster,
                                                           receiver: Receiver) -> None:
    count = 2000
    base = cluster.nginx.url
    host_a = cluster.hosts[0]
    seen: list[tuple[int, int]] = []
    async with aiohttp.ClientSession() as session:
        created = await post_batch(session, base, count, webhook=receiver.url)
        batch_id = created["id"]
        assert created["total"] == count and created["valid"] == count
        killed = False
        deadline = time.monotonic() + 120
        while True:
            state = await progress(session, base, batch_id)
            seen.append((state["done"], state["failed"]))
            if not killed and state["done"] >= 300:
                host_a.proc.kill()       # SIGKILL: no cleanup, its leases just run out
                host_a.proc.wait()
                killed_at = state["done"]
                killed = True
            if state["state"] == "done":
                break
            assert time.monotonic() < deadline, f"stuck at {state}"
            await asyncio.sleep(0.1)
        assert killed and killed_at < count, "host A was killed mid-batch"
        # The webhook: one call, signed, with the final counts.
        for _ in range(100):
            if receiver.calls:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        async with session.get(f"{base}/v1/batch/{batch_id}/results", headers=AUTH) as resp:
            lines = [json.loads(x) for x in (await resp.text()).splitlines()]
    dones = [d for d, _ in seen]
    assert dones == sorted(dones), "progress read through nginx went back"
    assert seen[-1] == (count, 0)
    assert [line["index"] for line in lines] == list(range(count))
    assert all(line["status"] == "rendered" for line in lines)

    rendered: Counter[int] = Counter()
    by_host = []
    for host in cluster.hosts:
        chunks = chunk_lines(host.log)
        mine = [i for c in chunks for i in c["rendered"]]
        rendered.update(mine)
        by_host.append(len(mine))
    twice = [i for i, n in rendered.items() if n > 1]
    assert not twice, f"rendered more than once: {twice[:20]}"
    assert by_host[0] > 0 and by_host[1] > 0, by_host
    # Every item's image is stored, once each, in the shared disk tier.
    assert disk_entries(cluster.disk) == count

    assert len(receiver.calls) == 1, receiver.calls
    headers, body = receiver.calls[0]
    assert verify(SECRET, headers[SIGNATURE_HEADER], body)
    assert not verify("wrong-secret", headers[SIGNATURE_HEADER], body)
    event = json.loads(body)
    assert (event["id"], event["state"], event["done"], event["failed"]) == (
        batch_id, "done", count, 0)
    assert event["results_url"].startswith(base)


async def test_redis_and_both_hosts_restarted_mid_batch_it_completes(cluster: Cluster) -> None:
    count = 600
    base = cluster.nginx.url
    async with aiohttp.ClientSession() as session:
        created = await post_batch(session, base, count)
        batch_id = created["id"]
        while (await progress(session, base, batch_id))["done"] < 100:
            await asyncio.sleep(0.05)
        for host in cluster.hosts:
            host.stop()
        cluster.hosts.clear()
        cluster.redis.restart()
        await asyncio.gather(cluster.start_host(0), cluster.start_host(1))
        deadline = time.monotonic() + 90
        last = 0
        while True:
            state = await progress(session, base, batch_id)
            assert state["done"] >= last
            last = state["done"]
            if state["state"] == "done":
                break
            assert time.monotonic() < deadline, f"stuck at {state}"
            await asyncio.sleep(0.2)
    assert (state["done"], state["failed"], state["total"]) == (count, 0, count)
    assert disk_entries(cluster.disk) == count
