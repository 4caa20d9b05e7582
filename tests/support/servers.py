"""Real servers for tests: the app on a real port (in-loop), or `picstream serve` as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from proxy.config import Server, Settings, replace
from proxy.web.app import create_app
from proxy.web.protocol import JsonErrorRunner

ROOT = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServeServer(TestServer):
    """A TestServer with `picstream serve`'s runner: protocol errors as JSON, known memory
    hits answered before routing (proxy/web/hits.py), as in production."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return JsonErrorRunner(self.app, **kwargs)


async def start_app(settings: Settings, **kwargs: object) -> tuple[TestServer, web.Application]:
    """Start create_app(settings) on 127.0.0.1 on a real port, served as `picstream serve`
    serves it; caller closes the server."""
    port = free_port()
    if settings.server.public_base_url == Server().public_base_url:
        # URLs minted by the app (API, playground) use the public base: here, the app itself.
        settings = replace(settings, server={"public_base_url": f"http://127.0.0.1:{port}"})
    app = create_app(settings, **kwargs)  # type: ignore[arg-type]
    server = ServeServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return server, app


def settings_env(settings: Settings) -> dict[str, str]:
    """PICSTREAM_* variables reproducing the fields a process server needs from `settings`."""
    from proxy.config import describe

    env: dict[str, str] = {}
    for info in describe():
        value = getattr(getattr(settings, info.section), info.name)
        if isinstance(value, tuple):
            env[info.env_var] = ",".join(value)
        elif isinstance(value, bool):
            env[info.env_var] = "true" if value else "false"
        else:
            env[info.env_var] = str(value)
    return env


class ProcessServer:
    """`picstream serve` in a subprocess, configured through PICSTREAM_* variables."""

    def __init__(self, settings: Settings, *, extra_env: Mapping[str, str] | None = None,
                 args: tuple[str, ...] = (), wait: bool = True) -> None:
        self.port = settings.server.port or free_port()
        env = {**os.environ, **settings_env(settings), "PICSTREAM_SERVER_PORT": str(self.port),
               "PICSTREAM_SERVER_HOST": "127.0.0.1", **(extra_env or {})}
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"picstream-{self.port}.log"
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "proxy", "serve", *args], env=env,
                                     cwd=ROOT, stdout=self._log_file, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Block until /healthz answers or the process dies."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server not ready: {self.log.read_text()[-2000:]}")

    def stop(self, timeout_s: float = 15) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return int(self.proc.returncode)
