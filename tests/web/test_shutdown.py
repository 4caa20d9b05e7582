"""SIGTERM: stop accepting, finish the requests already accepted, exit cleanly."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest
import pyvips

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.support.servers import ProcessServer
from tests.support.slow_origin import SlowOrigin

SOURCE_DELAY_S = 2.0


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as resp:
        return resp.status, await resp.read()


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_finishes_accepted_slow_requests(settings_factory, workers: int) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(server={"workers": workers, "shutdown_timeout_s": 10.0, "port": 0},
                                sources={"allow_loopback": True})
    async with SlowOrigin(delay_s=SOURCE_DELAY_S) as origin:
        server = await asyncio.to_thread(ProcessServer, settings)
        try:
            urls = [sign_url("social-card", {"name": f"Slow {i}", "avatar": origin.url(f"s{i}")},
                             keys=TEST_KEYS, fmt="jpeg", width=400, base_url=server.url)
                    for i in range(6)]
            # One connection per request, as separate clients would come.
            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(force_close=True)) as session:
                pending = [asyncio.create_task(fetch(session, u)) for u in urls]
                async with asyncio.timeout(10):
                    while origin.requests < len(urls):     # every request is being rendered
                        await asyncio.sleep(0.02)
                server.proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                # Stopped accepting: a new connection is refused while the old ones finish.
                with pytest.raises(aiohttp.ClientConnectionError):
                    await fetch(session, server.url + "/healthz")
                results = await asyncio.gather(*pending)
            assert [status for status, _ in results] == [200] * len(urls)
            for _, body in results:
                assert pyvips.Image.new_from_buffer(body, "").width == 400
            code = await asyncio.to_thread(server.proc.wait, 15)
            assert code == 0, server.log.read_text()[-2000:]
        finally:
            server.stop()
