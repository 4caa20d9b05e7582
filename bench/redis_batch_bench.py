"""The unique-card batch through `POST /v1/batch` with batches in Redis: one host, then two.

Each run starts its own redis-server (a free loopback port, a temp dir) and N `picstream serve`
hosts sharing it; the batch is posted to the first host and every host's idle render threads
take chunks of it. Both hosts run on this machine, so two hosts share its cores: the figure is
what a second process adds here (processes sidestep the GIL that one process's render threads
share), not what a second machine adds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from bench.http_bench import _free_port, start_server

from .scratch import scratch

API_KEY = "bench-api-key-0123456789"


def _redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                             str(directory), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def available() -> bool:
    """Whether redis-server is installed (Debian package redis-server)."""
    return shutil.which("redis-server") is not None or Path("/usr/bin/redis-server").exists()


def run(count: int, hosts: int) -> dict[str, float]:
    """Post `count` unique cards to the first of `hosts` hosts; wall s and images/s."""
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    with scratch() as tmp:
        redis, url = _redis(Path(tmp))
        servers = []
        try:
            for _ in range(hosts):
                port = _free_port()
                servers.append((port, start_server(
                    port, PICSTREAM_API_KEYS=f"bench:{digest}",
                    PICSTREAM_API_MAX_BATCH_ITEMS=str(count),
                    PICSTREAM_BATCH_REDIS_URL=url,
                    PICSTREAM_CACHE_MEMORY_MAX_BYTES=str(64 * 1024 * 1024))))
            base = f"http://127.0.0.1:{servers[0][0]}"
            body = json.dumps({"template": "social-card", "prerender": True,
                               "output": {"format": "jpeg"},
                               "items": [{"variables": {"name": f"Redis Person {i}"}}
                                         for i in range(count)]}).encode()
            started = time.perf_counter()
            request = urllib.request.Request(base + "/v1/batch", data=body, headers=headers)
            with urllib.request.urlopen(request, timeout=120) as resp:
                batch_id = json.loads(resp.read())["id"]
            accepted_s = time.perf_counter() - started
            while True:
                time.sleep(0.2)
                poll = urllib.request.Request(f"{base}/v1/batch/{batch_id}", headers=headers)
                with urllib.request.urlopen(poll, timeout=30) as resp:
                    state = json.loads(resp.read())
                if state["state"] != "running":
                    break
            wall = time.perf_counter() - started
            return {"hosts": hosts, "count": count, "done": state["done"],
                    "failed": state["failed"], "accepted_s": accepted_s, "wall_s": wall,
                    "per_s": count / wall}
        finally:
            for _, server in servers:
                server.terminate()
                server.wait(30)
            redis.terminate()
            redis.wait(10)


def markdown(rows: list[dict[str, float]], offline_per_s: float | None) -> str:
    """The Redis batch table, with the offline figure beside it."""
    out = ["| batch of unique social cards, JPEG 1200x630 | hosts | images | wall s | "
           "images/s | notes |", "|---|---:|---:|---:|---:|---|"]
    for row in rows:
        out.append(f"| `POST /v1/batch` with prerender, batches in Redis | {row['hosts']:.0f} | "
                   f"{row['done']:,.0f} | {row['wall_s']:.1f} | {row['per_s']:.0f} | "
                   f"URLs answered in {row['accepted_s']:.1f} s, {row['failed']:.0f} failed |")
    if offline_per_s is not None:
        out.append(f"| `picstream batch` to files (offline, for comparison) | - | - | - | "
                   f"{offline_per_s:.0f} | same machine, same run |")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown([run(1000, 1), run(1000, 2)], None))
