"""A bounded soak of a real `picstream serve`: steady mixed traffic, errors, p99 and RSS over time.

    python -m bench.soak                      # 3 minutes
    python -m bench.soak --seconds 60 --env MALLOC_ARENA_MAX=2 --out bench/results/soak.md

Traffic (all on 127.0.0.1): memory hits, unique misses, bad signatures (403), renders whose
avatar comes from a slow local origin (0.5 s), and a prerendered batch through `POST /v1/batch`
every 20 s (skipped if the API answers 404). Every response is checked against what its kind
must answer; anything else is an unexpected error. RSS is the server's VmRSS (all processes).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.load import rss_mb
from proxy.config import load_settings, replace
from proxy.urls import sign_url
from tests.support.servers import ProcessServer
from tests.support.slow_origin import SlowOrigin

KEY = "soak-key-0123456789abcdef0123456789"
# Requests per second of each kind: well under this machine class's miss capacity
# (bench/results/workers.md), so a 503 would be a finding, not the plan.
RATES = {"hit": 150.0, "miss": 12.0, "bad_signature": 10.0, "slow_source": 4.0}
EXPECTED = {"hit": {200}, "miss": {200}, "bad_signature": {403}, "slow_source": {200},
            "batch": {200, 202}}


@dataclass
class Window:
    """Latencies and statuses of one reporting interval."""

    started_s: float
    latencies_ms: list[float] = field(default_factory=list)
    fast_ms: list[float] = field(default_factory=list)     # without slow sources and batches
    count: int = 0
    rss_mb: float = 0.0

    def p99(self, fast: bool = False) -> float:
        """99th percentile latency in ms, of every request or of the fast kinds only."""
        values = self.fast_ms if fast else self.latencies_ms
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


@dataclass
class Soak:
    """Counters shared by the traffic loops."""

    windows: list[Window]
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)

    def record(self, kind: str, status: int, elapsed_ms: float, body: bytes) -> None:
        self.statuses[(kind, status)] += 1
        window = self.windows[-1]
        window.count += 1
        window.latencies_ms.append(elapsed_ms)
        if kind in ("hit", "miss", "bad_signature"):
            window.fast_ms.append(elapsed_ms)
        if status not in EXPECTED[kind]:
            self.unexpected.append(f"{kind}: {status} {body[:120]!r}")
        elif status == 200 and kind != "batch" and not body:
            self.unexpected.append(f"{kind}: 200 with an empty body")


async def _get(session: aiohttp.ClientSession, soak: Soak, kind: str, url: str) -> None:
    started = time.perf_counter()
    try:
        async with session.get(url) as resp:
            body = await resp.read()
            soak.record(kind, resp.status, (time.perf_counter() - started) * 1000, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        soak.statuses[(kind, 0)] += 1
        soak.unexpected.append(f"{kind}: {type(exc).__name__}")


async def _at_rate(rate: float, deadline: float, make: Callable[[int], Awaitable[None]],
                   limit: int = 64) -> None:
    """Start make(i) `rate` times per second until the deadline, at most `limit` at once."""
    gate = asyncio.Semaphore(limit)
    tasks: set[asyncio.Task[None]] = set()
    i = 0
    start = time.monotonic()
    while time.monotonic() < deadline:
        await gate.acquire()

        async def one(n: int) -> None:
            try:
                await make(n)
            finally:
                gate.release()

        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
    await asyncio.gather(*tasks)


async def _batch_loop(session: aiohttp.ClientSession, soak: Soak, base: str, api_key: str,
                      deadline: float) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    n = 0
    while time.monotonic() < deadline - 5:
        items = [{"variables": {"name": f"Batch {n}-{i}"}} for i in range(20)]
        started = time.perf_counter()
        async with session.post(base + "/v1/batch", headers=headers, json={
                "template": "social-card", "items": items, "output": {"format": "jpeg"},
                "prerender": True}) as resp:
            body = await resp.read()
            if resp.status == 404:
                soak.batches.append("skipped: POST /v1/batch answered 404")
                return
            soak.record("batch", resp.status, (time.perf_counter() - started) * 1000, body)
            if resp.status not in (200, 202):
                return
            status_url = (await resp.json())["status_url"] if body else ""
        for _ in range(100):
            async with session.get(base + status_url, headers=headers) as resp:
                state = await resp.json()
            if state.get("state") in ("done", "cancelled"):
                soak.batches.append(f"batch {n}: {state.get('state')}, "
                                    f"{state.get('done', '?')} done, "
                                    f"{state.get('failed', '?')} failed")
                break
            await asyncio.sleep(0.2)
        n += 1
        await asyncio.sleep(20)


async def run(seconds: float, window_s: float, extra_env: dict[str, str]) -> tuple[Soak, str]:
    """Start the server and the origin, drive the traffic, return what was seen."""
    api_key = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={})
        settings = replace(settings, signing={"keys": (KEY,)},
                           server={"port": 0},
                           sources={"allow_loopback": True, "allow_http": True,
                                    "allow_ports": ("1024-65535",),
                                    "data_dir": str(Path(tmp) / "data")},
                           api={"keys": (f"soak:{hashlib.sha256(api_key.encode()).hexdigest()}",)})
        async with SlowOrigin(delay_s=0.5) as origin:
            server = await asyncio.to_thread(ProcessServer, settings, extra_env=extra_env)
            base = server.url
            soak = Soak(windows=[Window(0.0)])
            try:
                hits = [sign_url("social-card", {"name": f"Hit {i}"}, keys=[KEY], fmt="jpeg",
                                 base_url=base) for i in range(16)]
                async with aiohttp.ClientSession(
                        timeout=aiohttp.ClientTimeout(total=30)) as session:
                    for url in hits:
                        await _get(session, soak, "hit", url)
                    soak.windows = [Window(0.0, rss_mb=rss_mb(server.proc.pid))]
                    began = time.monotonic()
                    deadline = began + seconds

                    def miss(i: int) -> Awaitable[None]:
                        return _get(session, soak, "miss", sign_url(
                            "social-card", {"name": f"Soak Person {i}"}, keys=[KEY],
                            fmt="jpeg", base_url=base))

                    def bad(i: int) -> Awaitable[None]:
                        url = sign_url("social-card", {"name": f"Bad {i}"}, keys=[KEY],
                                       fmt="jpeg", base_url=base)
                        return _get(session, soak, "bad_signature",
                                    url.replace("/i/", "/i/AAAA", 1))

                    def slow(i: int) -> Awaitable[None]:
                        return _get(session, soak, "slow_source", sign_url(
                            "social-card", {"name": f"Slow {i}", "avatar": origin.url(f"a{i}")},
                            keys=[KEY], fmt="jpeg", width=600, base_url=base))

                    async def windows() -> None:
                        while time.monotonic() < deadline:
                            await asyncio.sleep(window_s)
                            soak.windows[-1].rss_mb = rss_mb(server.proc.pid)
                            soak.windows.append(Window(time.monotonic() - began))

                    await asyncio.gather(
                        _at_rate(RATES["hit"], deadline,
                                 lambda i: _get(session, soak, "hit", hits[i % len(hits)])),
                        _at_rate(RATES["miss"], deadline, miss),
                        _at_rate(RATES["bad_signature"], deadline, bad),
                        _at_rate(RATES["slow_source"], deadline, slow),
                        _batch_loop(session, soak, base, api_key, deadline),
                        windows())
                    soak.windows[-1].rss_mb = rss_mb(server.proc.pid)
            finally:
                code = await asyncio.to_thread(server.stop)
                if code != 0:
                    soak.unexpected.append(f"server exited with {code}")
    return soak, ", ".join(f"{k}={v}" for k, v in extra_env.items()) or "defaults"


def markdown(soak: Soak, seconds: float, label: str) -> str:
    """Summary and the per-window table."""
    total = sum(soak.statuses.values())
    lines = [f"Soak of {seconds:g} s ({label}): {total:,} requests, "
             f"{len(soak.unexpected)} unexpected.", "",
             "| kind | status | count |", "|---|---:|---:|"]
    for (kind, status), count in sorted(soak.statuses.items()):
        lines.append(f"| {kind} | {status} | {count:,} |")
    lines += ["", "| t (s) | requests | p99 ms (all) | p99 ms (hit, miss, 403) | RSS MB |",
              "|---:|---:|---:|---:|---:|"]
    for w in soak.windows:
        if w.count:
            lines.append(f"| {w.started_s:.0f} | {w.count:,} | {w.p99():.1f} | "
                         f"{w.p99(fast=True):.1f} | {w.rss_mb:.0f} |")
    if soak.batches:
        lines += ["", "Batches: " + "; ".join(soak.batches[:5])
                  + (f" (+{len(soak.batches) - 5} more)" if len(soak.batches) > 5 else "")]
    if soak.unexpected:
        lines += ["", "Unexpected (first 10):", *[f"- {u}" for u in soak.unexpected[:10]]]
    return "\n".join(lines)


def main() -> None:
    """Run the soak and print (or append) the report."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--window", type=float, default=0.0,
                        help="reporting interval (default: seconds / 12)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server, e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--out", type=Path, help="append the report to this file")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    window = args.window or max(5.0, args.seconds / 12)
    soak, label = asyncio.run(run(args.seconds, window, extra))
    report = markdown(soak, args.seconds, label)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:
            out.write(report + "\n\n")
    raise SystemExit(1 if soak.unexpected else 0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
