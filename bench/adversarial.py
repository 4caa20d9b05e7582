"""Adversarial load: the worst legal sources against a victim's ordinary traffic (loopback).

`python -m bench.adversarial [--attack-s 20]` prints a table; tests/web/test_adversarial.py
runs a short version and asserts the bounds. One process: a local origin serving hostile
sources, the app on a real port, an attacker and a victim client.

- attacker: `ATTACKERS` concurrent loops of signed URLs (unique, so nothing is a cache hit)
  whose sources are the worst shapes a source may legally have: 1x3000 and 3000x1 PNGs at
  dpr 4, a 6000x6000 SVG with blur filters, a 100-frame GIF, a 10-gigapixel-declared SVG
  (refused from its header), and a slow drip that sends a byte every 50 ms;
- victim: one loop alternating ordinary renders (a new name each time, a cached avatar) and
  cache hits, first alone (baseline), then during the attack.

Measured: victim latency p50/p99 by kind and phase, statuses, how far each render thread ran
past its deadline (wrapping the service's render), and the process RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.config import Settings, load_settings, replace
from proxy.urls import sign_url

ROOT = Path(__file__).resolve().parents[1]
KEY = "adversarial-bench-key-0123456789"
ATTACKERS = 6
RENDER_TIMEOUT_S = 2.0
ATTACK_TEMPLATE = """size = [400, 300]
background = "#ffffff"

[variables.src]
type = "image"
allow_svg = true

[[layers]]
type = "image"
src = "{src}"
box = [40, 40, 220, 220]
fit = "cover"
gravity = "smart"
mask = "circle"
"""


def _png(width: int, height: int) -> bytes:
    image = (pyvips.Image.black(width, height) + [200, 30, 30]).cast("uchar")
    return bytes(image.copy(interpretation="srgb").pngsave_buffer())


def _gif(frames: int, side: int) -> bytes:
    strip = (pyvips.Image.black(side, side * frames) + [20, 160, 60]).cast("uchar")
    strip = strip.copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", side)
    return bytes(strip.gifsave_buffer())


def _svg(side: int, blur: bool) -> bytes:
    body = (f'<filter id="b"><feGaussianBlur stdDeviation="40"/></filter>'
            f'<rect width="{side}" height="{side}" fill="#c00" filter="url(#b)"/>'
            f'<circle cx="{side // 2}" cy="{side // 2}" r="{side // 3}" fill="#00c" '
            f'filter="url(#b)"/>') if blur else '<rect width="9" height="9"/>'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}">'
            f'{body}</svg>').encode()


class Origin:
    """The hostile (and one ordinary) source host on 127.0.0.1."""

    def __init__(self) -> None:
        self.bodies = {
            "thin-tall.png": _png(1, 3000), "thin-wide.png": _png(3000, 1),
            "blur.svg": _svg(6000, blur=True), "declared.svg": _svg(100_000, blur=False),
            "frames.gif": _gif(100, 400), "avatar.png": _png(400, 400),
        }
        app = web.Application()
        app.router.add_get("/drip.png", self._drip)
        app.router.add_get("/{name}", self._serve)
        self.server = TestServer(app, host="127.0.0.1")

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        kind = "image/svg+xml" if name.endswith(".svg") else "image/png"
        return web.Response(body=self.bodies[name], content_type=kind)

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        await resp.prepare(request)
        try:
            for byte in self.bodies["avatar.png"]:
                await resp.write(bytes([byte]))
                await asyncio.sleep(0.05)
        except (ConnectionError, RuntimeError):
            pass  # the fetcher gave up at its timeout
        return resp

    def url(self, name: str, n: int) -> str:
        return f"http://127.0.0.1:{self.server.port}/{name}?n={n}"


@dataclass
class Figures:
    """Everything one run measured."""

    latencies: dict[str, list[float]] = field(default_factory=dict)   # "phase/kind" -> s
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    attack_statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    overruns_s: list[float] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    attack_requests: int = 0

    def add(self, key: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(key, []).append(seconds)
        counts = self.statuses.setdefault(key, {})
        counts[status] = counts.get(status, 0) + 1

    def p(self, key: str, q: float) -> float:
        values = sorted(self.latencies.get(key, [0.0]))
        return values[min(len(values) - 1, int(q * len(values)))]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench_settings(templates: Path, data: Path) -> Settings:
    """Small, explicit bounds: what the RSS figure is measured against."""
    return replace(
        load_settings(environ={}), signing={"keys": (KEY,)},
        server={"render_threads": 2, "render_queue_max": 64},
        limits={"render_timeout_s": RENDER_TIMEOUT_S},
        cache={"memory_max_bytes": 32 * 1024 * 1024},
        templates={"dir": str(templates)},
        sources={"allow_loopback": True, "allow_http": True, "allow_ports": ("1024-65535",),
                 "allow_svg": True, "fetch_timeout_s": 3.0, "max_concurrent_fetches": 8,
                 "cache_max_bytes": 32 * 1024 * 1024, "data_dir": str(data)})


def _record_overruns(figures: Figures) -> Callable[[], None]:
    """Wrap the service's render to record how far past its deadline each thread ran."""
    import proxy.web.service as service

    real = service.render

    def timed(job: Any, memo: Any) -> Any:
        try:
            return real(job, memo)
        finally:
            if job.deadline is not None:
                figures.overruns_s.append(time.monotonic() - job.deadline)

    service.render = timed  # type: ignore[assignment]

    def restore() -> None:
        service.render = real  # type: ignore[assignment]

    return restore


async def run(*, baseline_s: float = 5.0, attack_s: float = 20.0) -> Figures:
    """Baseline, then attack; returns the figures (the server is stopped afterwards)."""
    from tests.support.servers import start_app

    figures = Figures()
    restore = _record_overruns(figures)
    tmp = Path(tempfile.mkdtemp(prefix="picstream-adversarial-"))
    origin = Origin()
    try:
        shutil.copytree(ROOT / "templates", tmp / "templates")
        (tmp / "templates" / "attack.toml").write_text(ATTACK_TEMPLATE)
        await origin.server.start_server()
        server, _ = await start_app(bench_settings(tmp / "templates", tmp / "data"))
        base = f"http://127.0.0.1:{server.port}"
        counter = itertools.count()
        try:
            async with aiohttp.ClientSession() as session:
                hit = sign_url("social-card", {"name": "Warm"}, keys=(KEY,), fmt="jpeg",
                               base_url=base)
                async with session.get(hit) as resp:
                    await resp.read()
                figures.rss_start_mb = _rss_mb()
                stop = asyncio.Event()

                async def victim(phase: str, until: float) -> None:
                    while time.monotonic() < until:
                        n = next(counter)
                        ordinary = sign_url("social-card", {
                            "name": f"Victim {n}", "avatar": origin.url("avatar.png", 0)},
                            keys=(KEY,), fmt="jpeg", base_url=base)
                        for kind, url in (("render", ordinary), ("hit", hit)):
                            started = time.monotonic()
                            async with session.get(url) as resp:
                                await resp.read()
                            figures.add(f"{phase}/{kind}", time.monotonic() - started,
                                        resp.status)

                async def sample_rss() -> None:
                    while not stop.is_set():
                        figures.rss_peak_mb = max(figures.rss_peak_mb, _rss_mb())
                        await asyncio.sleep(0.1)

                shapes = [("thin-tall.png", 4), ("thin-wide.png", 4), ("blur.svg", 1),
                          ("frames.gif", 2), ("declared.svg", 1), ("drip.png", 1)]

                async def attacker(offset: int, until: float) -> None:
                    for i in itertools.count(offset):
                        if time.monotonic() >= until:
                            return
                        name, dpr = shapes[i % len(shapes)]
                        n = next(counter)
                        url = sign_url("attack", {"src": origin.url(name, n)}, keys=(KEY,),
                                       fmt="jpeg", dpr=dpr, base_url=base)
                        async with session.get(url) as resp:
                            await resp.read()
                        counts = figures.attack_statuses.setdefault(name, {})
                        counts[resp.status] = counts.get(resp.status, 0) + 1
                        figures.attack_requests += 1

                sampler = asyncio.create_task(sample_rss())
                await victim("baseline", time.monotonic() + baseline_s)
                until = time.monotonic() + attack_s
                await asyncio.gather(victim("attack", until),
                                     *(attacker(k, until) for k in range(ATTACKERS)))
                # the attack's last renders end (and are measured) before the server stops
                await asyncio.sleep(RENDER_TIMEOUT_S)
                stop.set()
                await sampler
        finally:
            await server.close()
    finally:
        restore()
        await origin.server.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


def markdown(figures: Figures) -> str:
    """The figures as markdown tables."""
    lines = ["| victim | requests | statuses | p50 ms | p99 ms |", "|---|---:|---|---:|---:|"]
    for key in ("baseline/render", "attack/render", "baseline/hit", "attack/hit"):
        values = figures.latencies.get(key, [])
        statuses = ", ".join(f"{s}: {c}" for s, c in sorted(figures.statuses.get(key, {}).items()))
        lines.append(f"| {key} | {len(values)} | {statuses} | "
                     f"{figures.p(key, 0.5) * 1000:.1f} | {figures.p(key, 0.99) * 1000:.1f} |")
    lines += ["", "| attack source | statuses |", "|---|---|"]
    for name, counts in sorted(figures.attack_statuses.items()):
        lines.append(f"| {name} | {', '.join(f'{s}: {c}' for s, c in sorted(counts.items()))} |")
    over = figures.overruns_s or [0.0]
    lines += ["", f"- attack requests: {figures.attack_requests}; renders measured: "
              f"{len(figures.overruns_s)}; worst render end relative to its deadline: "
              f"{max(over) * 1000:+.0f} ms (median {statistics.median(over) * 1000:+.0f} ms)",
              f"- RSS: {figures.rss_start_mb:.0f} MB after warm-up, peak "
              f"{figures.rss_peak_mb:.0f} MB (memory cache 32 MB, source cache 32 MB, "
              f"8 downloads x 20 MB, 2 render threads)"]
    return "\n".join(lines)


def main() -> None:
    """Run the adversarial load and print the tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.adversarial")
    parser.add_argument("--baseline-s", type=float, default=5.0)
    parser.add_argument("--attack-s", type=float, default=20.0)
    args = parser.parse_args()
    print(markdown(asyncio.run(run(baseline_s=args.baseline_s, attack_s=args.attack_s))))


if __name__ == "__main__":
    main()
