"""A resize-style run: a 2400x1600 JPEG from a local origin rendered into product-mockup-v2,
with the source cache cold (a new source URL each time) and warm (the same source)."""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp
import pyvips
from aiohttp import web

from bench.http_bench import KEY, LOCAL_ORIGIN_ENV, _free_port, start_server
from proxy.urls import sign_url


def photo(width: int = 2400, height: int = 1600) -> bytes:
    """A photo-like JPEG: smooth colour fields plus noise (encoders and decoders work)."""
    xyz = pyvips.Image.xyz(width, height)
    base = (xyz[0] * 255 / width).bandjoin([xyz[1] * 255 / height,
                                            (xyz[0] + xyz[1]) * 127 / (width + height)])
    noise = pyvips.Image.gaussnoise(width, height, sigma=18, mean=0)
    image = (base + noise).cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=88))


async def _origin(body: bytes) -> tuple[web.AppRunner, int]:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _measure(base: str, origin: int, count: int) -> dict[str, float]:
    body = photo()
    runner, port = await _origin(body)
    results: dict[str, float] = {"source_bytes": len(body)}
    try:
        async with aiohttp.ClientSession() as session:
            for phase in ("cold", "warm"):
                times = []
                for i in range(count):
                    source = f"http://127.0.0.1:{port}/" + (f"p{i}.jpg" if phase == "cold"
                                                             else "same.jpg")
                    url = sign_url("product-mockup-v2", {"customerName": f"{phase} {i}",
                                                         "productImage": source},
                                   keys=[KEY], fmt="jpeg", base_url=base)
                    started = time.perf_counter()
                    async with session.get(url) as resp:
                        await resp.read()
                        assert resp.status == 200, resp.status
                    times.append((time.perf_counter() - started) * 1000)
                results[f"{phase}_p50"] = statistics.median(times)
                results[f"{phase}_max"] = max(times)
    finally:
        await runner.cleanup()
    return results


def run(count: int = 30) -> dict[str, float]:
    """Start a server allowed to fetch from loopback (bench only) and measure both phases."""
    port = _free_port()
    server = start_server(port, **LOCAL_ORIGIN_ENV)
    try:
        return asyncio.run(_measure(f"http://127.0.0.1:{port}", port, count))
    finally:
        server.terminate()
        server.wait(30)


def markdown(r: dict[str, float]) -> str:
    """The source table."""
    return "\n".join([
        f"| product-mockup-v2 JPEG from a {r['source_bytes'] / 1e6:.1f} MB 2400x1600 JPEG "
        "source | p50 ms | max ms |", "|---|---:|---:|",
        f"| source cache cold (new source URL each request: fetch, decode, fit, tint) | "
        f"{r['cold_p50']:.1f} | {r['cold_max']:.1f} |",
        f"| source cache warm (same source; its fitted layer is memoised) | "
        f"{r['warm_p50']:.1f} | {r['warm_max']:.1f} |"])


if __name__ == "__main__":
    print(markdown(run()))
