"""The headline: 10,000 unique social cards to JPEG files with `picstream batch`, and the same
through `POST /v1/batch` with prerender against a running server."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.http_bench import KEY, _free_port, start_server
from proxy.urls import sign_url

from .scratch import scratch

ROOT = Path(__file__).resolve().parent.parent


def offline(count: int = 10_000) -> dict[str, float]:
    """`picstream batch social-card rows.csv --out DIR --format jpeg`: wall s, images/s, RSS."""
    with scratch() as tmp:
        rows = Path(tmp) / "rows.csv"
        with rows.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "title"])
            for i in range(count):
                writer.writerow([f"Unique Person {i}", "Staff engineer at PicStream"])
        out = Path(tmp) / "out"
        started = time.perf_counter()
        result = subprocess.run(
            ["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "proxy", "batch",
             "social-card", str(rows), "--out", str(out), "--format", "jpeg"],
            cwd=ROOT, capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-2000:])
        files = list(out.iterdir())
        rss = re.search(r"maxrss_kb=(\d+)", result.stderr)
        return {"count": count, "files": len(files), "wall_s": wall, "per_s": count / wall,
                "mean_bytes": sum(f.stat().st_size for f in files) / max(1, len(files)),
                "peak_rss_mb": int(rss.group(1)) / 1024 if rss else float("nan")}


def through_api(count: int = 10_000) -> dict[str, float]:
    """POST /v1/batch with prerender; polls GET /v1/batch/{id} until done."""
    api_key = "bench-api-key-0123456789"
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    port = _free_port()
    server = start_server(port, PICSTREAM_API_KEYS=f"bench:{digest}",
                          PICSTREAM_API_MAX_BATCH_ITEMS=str(count),
                          PICSTREAM_API_BATCH_CONCURRENCY="2",
                          PICSTREAM_CACHE_MEMORY_MAX_BYTES=str(64 * 1024 * 1024))
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    try:
        body = json.dumps({"template": "social-card", "prerender": True,
                           "output": {"format": "jpeg"},
                           "items": [{"variables": {"name": f"Api Person {i}"}}
                                     for i in range(count)]}).encode()
        started = time.perf_counter()
        request = urllib.request.Request(base + "/v1/batch", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=120) as resp:
            batch_id = json.loads(resp.read())["id"]
        accepted_s = time.perf_counter() - started
        live_ms: list[float] = []
        i = 0
        while True:
            # Live traffic while the batch prerenders: a new card (a miss) every 100 ms.
            for _ in range(5):
                live = sign_url("social-card", {"name": f"Live visitor {i}"}, keys=[KEY],
                                fmt="jpeg", base_url=base)
                i += 1
                tick = time.perf_counter()
                with urllib.request.urlopen(live, timeout=30) as resp:
                    resp.read()
                live_ms.append((time.perf_counter() - tick) * 1000)
                time.sleep(0.1)
            poll = urllib.request.Request(f"{base}/v1/batch/{batch_id}", headers=headers)
            with urllib.request.urlopen(poll, timeout=30) as resp:
                state = json.loads(resp.read())
            if state["state"] not in ("queued", "running"):
                break
        wall = time.perf_counter() - started
        status = Path(f"/proc/{server.pid}/status").read_text()
        rss = re.search(r"VmHWM:\s+(\d+)", status)
        live_ms.sort()
        return {"count": count, "done": state["done"], "failed": state["failed"],
                "live_n": len(live_ms), "live_p50": live_ms[len(live_ms) // 2],
                "live_p99": live_ms[min(len(live_ms) - 1, int(len(live_ms) * 0.99))],
                "accepted_s": accepted_s, "wall_s": wall, "per_s": count / wall,
                "peak_rss_mb": int(rss.group(1)) / 1024 if rss else float("nan")}
    finally:
        server.terminate()
        server.wait(30)


def markdown(off: dict[str, float], api: dict[str, float] | None) -> str:
    """The batch table."""
    rows = ["| batch of unique social cards, JPEG 1200x630 | images | wall s | images/s | "
            "peak RSS MB | notes |", "|---|---:|---:|---:|---:|---|"]
    rows.append(f"| `picstream batch` to files (offline, 2 processes) | {off['files']:,.0f} | "
                f"{off['wall_s']:.1f} | {off['per_s']:.0f} | {off['peak_rss_mb']:.0f} | "
                f"mean {off['mean_bytes']:,.0f} B a file |")
    if api is not None:
        rows.append(f"| `POST /v1/batch` with prerender (1 server) | {api['done']:,.0f} | "
                    f"{api['wall_s']:.1f} | {api['per_s']:.0f} | {api['peak_rss_mb']:.0f} | "
                    f"URLs answered in {api['accepted_s']:.1f} s, {api['failed']:.0f} failed; "
                    f"{api['live_n']:.0f} live misses meanwhile: p50 {api['live_p50']:.0f} ms, "
                    f"p99 {api['live_p99']:.0f} ms |")
    return "\n".join(rows)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(markdown(offline(), through_api()))
