"""Back-pressure: past server.render_queue_max, misses get 503 + Retry-After; hits still flow."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
from multidict import CIMultiDict

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.support.servers import start_app
from tests.support.slow_origin import SlowOrigin


def card(base: str, name: str, avatar: str | None = None) -> str:
    variables = {"name": name} | ({"avatar": avatar} if avatar else {})
    return sign_url("social-card", variables, keys=TEST_KEYS, fmt="jpeg", width=400,
                    base_url=base)


async def fetch(session: aiohttp.ClientSession,
                url: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with session.get(url) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


def assert_never_empty_200(results: list[tuple[int, CIMultiDict[str], bytes]]) -> None:
    for status, headers, body in results:
        assert status in (200, 503), status
        if status == 200:
            assert body and int(headers["Content-Length"]) == len(body)
        else:
            assert headers["Retry-After"]
            assert headers["Cache-Control"] == "no-store"


class GatedRender:
    """Replaces the service's render with one that waits for a gate: a render held open."""

    def __init__(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        import proxy.web.service as service

        self.real = service.render
        self.gate = threading.Event()
        self.started = threading.Event()
        monkeypatch.setattr(service, "render", self)

    def __call__(self, job, memo):  # type: ignore[no-untyped-def]
        if job.values.display("name").startswith("Slow"):
            self.started.set()
            self.gate.wait(10)
        return self.real(job, memo)


async def test_full_queue_gives_503_to_misses_while_hits_are_served(  # type: ignore[no-untyped-def]
        settings_factory, monkeypatch) -> None:
    gated = GatedRender(monkeypatch)
    settings = settings_factory(server={"render_queue_max": 1})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as session:
        try:
            hit_url = card(base, "Warm")
            warm = await fetch(session, hit_url)
            assert warm[0] == 200
            # One slow render holds the only slot.
            slow_url = card(base, "Slow")
            slow = asyncio.create_task(fetch(session, slow_url))
            await asyncio.get_running_loop().run_in_executor(None, gated.started.wait, 5)

            misses = await asyncio.gather(*(fetch(session, card(base, f"Miss {i}"))
                                            for i in range(10)))
            hits = await asyncio.gather(*(fetch(session, hit_url) for _ in range(10)))
            # A second request for the slow URL joins its flight instead of queueing.
            joined = asyncio.create_task(fetch(session, slow_url))

            assert [m[0] for m in misses] == [503] * 10
            assert misses[0][1]["Content-Type"].startswith("application/json")
            assert [h[0] for h in hits] == [200] * 10
            assert all(h[2] == warm[2] and h[1]["X-Cache"] == "memory" for h in hits)

            gated.gate.set()
            done = [await slow, await joined]
            assert [d[0] for d in done] == [200, 200]
            assert done[0][2] == done[1][2]
            # The queue drained: the refused miss renders now.
            again = await fetch(session, card(base, "Miss 0"))
            assert again[0] == 200
            assert_never_empty_200([*misses, *hits, *done, again])
        finally:
            gated.gate.set()
            await server.close()


async def test_a_slow_source_holds_no_render_slot(settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(server={"render_queue_max": 1},
                                sources={"allow_loopback": True})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    async with SlowOrigin(gated=True) as origin, aiohttp.ClientSession() as session:
        try:
            slow = asyncio.create_task(fetch(session, card(base, "Fetching", origin.url("s"))))
            await asyncio.wait_for(origin.arrived.wait(), 5)
            # the fetch waits on the origin, outside the only render slot: misses still render
            misses = [await fetch(session, card(base, f"Free {i}")) for i in range(3)]
            assert [m[0] for m in misses] == [200] * 3
            origin.release()
            assert (await slow)[0] == 200
        finally:
            await server.close()


async def test_burst_of_misses_is_never_an_empty_200(  # type: ignore[no-untyped-def]
        settings_factory, monkeypatch) -> None:
    gated = GatedRender(monkeypatch)
    settings = settings_factory(server={"render_queue_max": 1})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as session:
        try:
            urls = [card(base, f"Slow burst {i}") for i in range(12)]
            burst = asyncio.gather(*(fetch(session, u) for u in urls))
            await asyncio.get_running_loop().run_in_executor(None, gated.started.wait, 5)
            await asyncio.sleep(0.2)
            gated.gate.set()
            results = await burst
        finally:
            gated.gate.set()
            await server.close()
    assert_never_empty_200(results)
    statuses = sorted(r[0] for r in results)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
