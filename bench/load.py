"""Cache-hit and cache-miss load with an asyncio + aiohttp client: one process vs N workers.

    python -m bench.load                       # 1x2, 2x1, 2x2 (workers x render threads), 8 s each
    python -m bench.load --seconds 3 --configs 1x2,2x1 --out bench/results/workers.md

Bounded in time (--seconds per phase) and count (--max-requests), 127.0.0.1 only. Each
configuration is a fresh `picstream serve` (bench/http_bench.start_server). The client runs on
the same machine, so it competes with the server for cores: compare rows with each other,
not with a separate load generator. `--wrk` adds a wrk run of the hit phase as a cross-check.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.http_bench import KEY, _free_port, start_server, wrk
from proxy.urls import sign_url

ROOT = Path(__file__).resolve().parent.parent
HIT_URLS = 16
MISS_URLS = 5000          # far more than a phase renders on this machine class


@dataclass
class LoadResult:
    """What one load phase measured."""

    requests: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    failures: int = 0              # connection errors and timeouts

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        """The q-th percentile latency in ms (nearest rank)."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def errors(self) -> int:
        return self.failures + sum(n for s, n in self.statuses.items() if s != 200)


async def run_load(urls: Sequence[str], *, concurrency: int, seconds: float,
                   max_requests: int, cycle: bool,
                   headers: dict[str, str] | None = None,
                   force_close: bool = False) -> LoadResult:
    """GET `urls` from `concurrency` keep-alive clients until time, count or URLs run out."""
    result = LoadResult()
    next_index = 0
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=30)

    def take() -> str | None:
        nonlocal next_index
        if next_index >= max_requests or time.monotonic() >= deadline:
            return None
        if not cycle and next_index >= len(urls):
            return None
        url = urls[next_index % len(urls)]
        next_index += 1
        return url

    async def client(session: aiohttp.ClientSession) -> None:
        while (url := take()) is not None:
            started = time.perf_counter()
            try:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    result.statuses[resp.status] += 1
                    result.tiers[resp.headers.get("X-Cache", "-")] += 1
            except (aiohttp.ClientError, TimeoutError):
                result.failures += 1
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=force_close)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        result.elapsed_s = time.monotonic() - started
    result.requests = sum(result.statuses.values())
    return result


def card_url(base: str, name: str) -> str:
    """A 1200x630 social card as JPEG: the typical miss."""
    return sign_url("social-card", {"name": name}, keys=[KEY], fmt="jpeg", base_url=base)


def rss_mb(pid: int) -> float:
    """VmRSS of a process and its children (workers), in MB."""
    total_kb = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total_kb / 1024


@dataclass
class ConfigResult:
    """Hit and miss results of one workers x threads configuration."""

    workers: int
    threads: int
    hit: LoadResult
    miss: LoadResult
    rss_mb: float
    wrk_hit: dict[str, float] | None = None


def _wait_all_workers(base: str, workers: int) -> None:
    # /healthz answers as soon as one worker listens; give spawned siblings time to start.
    if workers > 1:
        time.sleep(2.5)
    urllib.request.urlopen(base + "/healthz", timeout=5).read()


async def measure(workers: int, threads: int, *, seconds: float, concurrency: int,
                  miss_concurrency: int, max_requests: int, use_wrk: bool) -> ConfigResult:
    """Start a server with this configuration and run the hit and miss phases."""
    port = _free_port()
    server = start_server(port, PICSTREAM_SERVER_WORKERS=str(workers),
                          PICSTREAM_SERVER_RENDER_THREADS=str(threads))
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(_wait_all_workers, base, workers)
        hit_urls = [card_url(base, f"Hit {i}") for i in range(HIT_URLS)]
        # Warm every worker's memory cache: the shared socket hands each new connection to
        # whichever worker wakes first, so repeat until a round renders nothing.
        for _ in range(20):
            warm = await run_load(hit_urls, concurrency=8, seconds=10,
                                  max_requests=HIT_URLS * 8, cycle=True, force_close=True)
            if set(warm.tiers) == {"memory"}:
                break
        hit = await run_load(hit_urls, concurrency=concurrency, seconds=seconds,
                             max_requests=max_requests, cycle=True)
        wrk_hit = (wrk(hit_urls[0], connections=concurrency, seconds=max(1, int(seconds)))
                   if use_wrk else None)
        miss_urls = [card_url(base, f"Unique Person {workers}-{threads}-{i}")
                     for i in range(min(max_requests, MISS_URLS))]
        miss = await run_load(miss_urls, concurrency=miss_concurrency, seconds=seconds,
                              max_requests=max_requests, cycle=False)
        rss = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(20)
    return ConfigResult(workers, threads, hit, miss, rss, wrk_hit)


def markdown(rows: Sequence[ConfigResult], *, seconds: float, concurrency: int,
             miss_concurrency: int) -> str:
    """The comparison table."""
    out = ["| workers x render threads | hit req/s | hit p50 ms | hit p99 ms | "
           "miss req/s | miss p50 ms | miss p99 ms | errors | RSS MB (all processes) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r.workers} x {r.threads} | {r.hit.rps:.0f} | "
                   f"{r.hit.percentile(50):.2f} | {r.hit.percentile(99):.2f} | "
                   f"{r.miss.rps:.0f} | {r.miss.percentile(50):.1f} | "
                   f"{r.miss.percentile(99):.1f} | {r.hit.errors + r.miss.errors} | "
                   f"{r.rss_mb:.0f} |")
    out.append("")
    out.append(f"aiohttp client with {concurrency} connections for hits ({HIT_URLS} warmed "
               f"URLs), {miss_concurrency} for misses (unique 1200x630 social-card JPEGs), "
               f"{seconds:g} s per phase.")
    if any(r.wrk_hit for r in rows):
        out.append("")
        out.append("| workers x render threads | wrk hit req/s | wrk p50 ms | wrk p99 ms |")
        out.append("|---|---:|---:|---:|")
        for r in rows:
            if r.wrk_hit:
                out.append(f"| {r.workers} x {r.threads} | {r.wrk_hit['rps']:.0f} | "
                           f"{r.wrk_hit['p50']:.2f} | {r.wrk_hit['p99']:.2f} |")
    return "\n".join(out)


def main() -> None:
    """Measure each configuration and print (or write) the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--configs", default="1x2,2x1,2x2",
                        help="comma-separated WORKERSxTHREADS (0 threads = one per core)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--miss-concurrency", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--wrk", action="store_true", help="also run wrk on the hit phase")
    parser.add_argument("--out", type=Path, help="write the markdown table here too")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    rows = []
    for spec in args.configs.split(","):
        workers, _, threads = spec.partition("x")
        rows.append(asyncio.run(measure(int(workers), int(threads), seconds=args.seconds,
                                        concurrency=args.concurrency,
                                        miss_concurrency=args.miss_concurrency,
                                        max_requests=args.max_requests,
                                        use_wrk=args.wrk)))
        print(f"{spec}: hit {rows[-1].hit.rps:.0f}/s, miss {rows[-1].miss.rps:.0f}/s, "
              f"tiers {dict(rows[-1].hit.tiers)}", flush=True)
    table = markdown(rows, seconds=args.seconds, concurrency=args.concurrency,
                     miss_concurrency=args.miss_concurrency)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
