"""The shipped nginx.conf, rendered for the test, in front of real PicStream servers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from proxy.config import Settings
from proxy.urls import sign_url
from proxy.web.app import create_app
from tests.conftest import ROOT, TEST_KEYS
from tests.support.servers import free_port

NGINX_CONF = ROOT / "nginx.conf"
VARIABLES = ("PICSTREAM_NGINX_LISTEN", "PICSTREAM_UPSTREAMS", "PICSTREAM_NGINX_CACHE_DIR",
             "PICSTREAM_NGINX_CACHE_MAX_SIZE")


def nginx_binary() -> str:
    """The nginx binary; skipped when absent locally, a failure in CI."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                      else None)
    if found is None:
        message = "nginx binary not found on PATH or at /usr/sbin/nginx"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the nginx tests must run)")
        pytest.skip(message)
    return found


def render_conf(values: dict[str, str]) -> str:
    """What `envsubst '$PICSTREAM_...'` produces: only our variables, nginx's `$vars` kept."""
    text = NGINX_CONF.read_text()
    for name in VARIABLES:
        text = text.replace("${" + name + "}", values[name])
    assert "${PICSTREAM_" not in text
    return text


@dataclass
class Nginx:
    """A running nginx in its own temp prefix."""

    url: str
    proc: subprocess.Popen[bytes]
    prefix: Path

    def stop(self) -> None:
        """Fast shutdown and wait."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def error_log(self) -> str:
        """What nginx wrote to stderr (its error log in this config)."""
        path = self.prefix / "stderr.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def start_nginx(prefix: Path, upstream_ports: list[int], *, cache: bool = True) -> Nginx:
    """nginx with the shipped config, listening on a free loopback port, in the foreground."""
    binary = nginx_binary()
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "cache").mkdir(exist_ok=True)
    port = free_port()
    conf = render_conf({
        "PICSTREAM_NGINX_LISTEN": f"127.0.0.1:{port}",
        "PICSTREAM_UPSTREAMS": " ".join(f"server 127.0.0.1:{p};" for p in upstream_ports),
        "PICSTREAM_NGINX_CACHE_DIR": str(prefix / "cache"),
        "PICSTREAM_NGINX_CACHE_MAX_SIZE": "100m",
    })
    if not cache:
        # The routing test looks at every request, so nothing may be answered from cache.
        assert "proxy_cache picstream_images;" in conf
        conf = conf.replace("proxy_cache picstream_images;", "proxy_cache off;")
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    globals_ = f"daemon off; pid {prefix / 'nginx.pid'};"
    if os.geteuid() == 0:
        # As root, workers would switch to the compiled-in user, who cannot write the
        # test's temp dirs.
        globals_ += " user root;"
    stderr = (prefix / "stderr.log").open("wb")
    proc = subprocess.Popen([binary, "-p", str(prefix), "-e", str(prefix / "error.log"),
                             "-c", str(conf_path), "-g", globals_],
                            stdout=subprocess.DEVNULL, stderr=stderr)
    nginx = Nginx(f"http://127.0.0.1:{port}", proc, prefix)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {nginx.error_log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return nginx
        except OSError:
            time.sleep(0.05)
    nginx.stop()
    raise RuntimeError(f"nginx did not listen: {nginx.error_log()}")


@dataclass
class CountedApp:
    """A PicStream app on a real port that records every request path it sees."""

    server: TestServer
    seen: Counter[str] = field(default_factory=Counter)

    @property
    def port(self) -> int:
        return int(self.server.port)  # type: ignore[arg-type]

    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _cacheable_v1(request: web.Request) -> web.Response:
    # A cacheable-looking 200 under /v1/: only the location config keeps nginx from storing it.
    return web.json_response({"ok": True}, headers={"Cache-Control": "public, max-age=3600"})


async def start_counted(settings: Settings) -> CountedApp:
    """create_app(settings) behind a recording middleware, on a free port."""
    app = create_app(settings)
    counted = CountedApp(TestServer(app, host="127.0.0.1", port=free_port()))

    @web.middleware
    async def record(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                     ) -> web.StreamResponse:
        counted.seen[request.path_qs] += 1
        return await handler(request)

    app.middlewares.insert(0, record)
    app.router.add_get("/v1/test-cacheable", _cacheable_v1)
    await counted.server.start_server()
    return counted


def path_of(url: str) -> str:
    """The path and query of an absolute URL, as the app sees it."""
    return "/" + url.split("/", 3)[3]


def signed(base: str, name: str, fmt: str = "jpeg", **kw: object) -> str:
    return sign_url("email-header", {"headline": "Hello", "name": name}, keys=TEST_KEYS,
                    fmt=fmt, width=300, base_url=base, **kw)  # type: ignore[arg-type]


@pytest.fixture
def prefix(tmp_path: Path) -> Iterator[Path]:
    nginx_binary()
    yield tmp_path / "nginx"


@pytest.fixture
async def stack(settings: Settings, prefix: Path) -> AsyncIterator[tuple[Nginx, CountedApp]]:
    """nginx in front of one counted app."""
    app = await start_counted(settings)
    nginx = start_nginx(prefix, [app.port])
    try:
        yield nginx, app
    finally:
        nginx.stop()
        await app.server.close()


async def fetch(session: aiohttp.ClientSession, url: str,
                **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with session.get(url, headers=headers) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


async def test_second_get_is_an_nginx_hit_and_the_app_renders_once(stack) -> None:  # type: ignore[no-untyped-def]
    nginx, app = stack
    url = signed(nginx.url, "Hit")
    async with aiohttp.ClientSession() as session:
        first = await fetch(session, url)
        second = await fetch(session, url)
    assert first[0] == second[0] == 200
    assert first[1]["X-Cache-Status"] == "MISS"
    assert second[1]["X-Cache-Status"] == "HIT"
    assert first[2] == second[2] and first[2]
    assert app.seen[path_of(url)] == 1


async def test_fifty_concurrent_misses_reach_the_app_once(stack) -> None:  # type: ignore[no-untyped-def]
    nginx, app = stack
    url = signed(nginx.url, "Fifty at once")
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(fetch(session, url) for _ in range(50)))
    assert {status for status, _, _ in results} == {200}
    assert len({body for _, _, body in results}) == 1
    assert app.seen[path_of(url)] == 1


async def test_expired_image_is_served_stale_while_the_app_is_down(settings_factory,
                                                                   prefix: Path) -> None:  # type: ignore[no-untyped-def]
    app = await start_counted(settings_factory(cache={"max_age_s": 1,
                                                      "stale_while_revalidate_s": 0}))
    nginx = start_nginx(prefix, [app.port])
    try:
        url = signed(nginx.url, "Stale")
        async with aiohttp.ClientSession() as session:
            status, headers, body = await fetch(session, url)
            assert (status, headers["X-Cache-Status"]) == (200, "MISS")
            assert "max-age=1" in headers["Cache-Control"]
            await app.server.close()
            await asyncio.sleep(2.5)        # past max-age: only use_stale can answer now
            status, headers, stale = await fetch(session, url)
        assert status == 200
        assert headers["X-Cache-Status"] in ("STALE", "UPDATING")
        assert stale == body
    finally:
        nginx.stop()
        await app.server.close()


async def test_v1_is_never_cached(stack) -> None:  # type: ignore[no-untyped-def]
    nginx, app = stack
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            status, headers, _ = await fetch(session, nginx.url + "/v1/test-cacheable")
            assert status == 200
            assert "X-Cache-Status" not in headers
    assert app.seen["/v1/test-cacheable"] == 2


async def test_v1_is_rate_limited_per_client(stack) -> None:  # type: ignore[no-untyped-def]
    nginx, _ = stack
    async with aiohttp.ClientSession() as session:
        statuses = [(await fetch(session, nginx.url + "/v1/test-cacheable"))[0]
                    for _ in range(60)]
    assert statuses[0] == 200
    assert 429 in statuses


async def test_bad_signature_403_is_not_cached(stack) -> None:  # type: ignore[no-untyped-def]
    nginx, app = stack
    url = signed(nginx.url, "Forged").replace("/i/", "/i/A", 1)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            status, headers, _ = await fetch(session, url)
            assert status == 403
            assert headers["Cache-Control"] == "no-store"
            assert headers["X-Cache-Status"] == "MISS"
    assert app.seen[path_of(url)] == 2


async def test_if_none_match_gets_304_through_nginx(stack) -> None:  # type: ignore[no-untyped-def]
    nginx, app = stack
    url = signed(nginx.url, "Etag")
    async with aiohttp.ClientSession() as session:
        status, headers, _ = await fetch(session, url)
        assert status == 200
        tag = headers["ETag"]
        status, headers, body = await fetch(session, url, **{"If-None-Match": tag})
        assert (status, headers["X-Cache-Status"], body) == (304, "HIT", b"")
        assert headers["ETag"] == tag
        # A conditional request for a URL nginx has not stored yet: still a 304.
        fresh = signed(nginx.url, "Etag two")
        status, headers, _ = await fetch(session, fresh)
        app.seen.clear()
        status, _, body = await fetch(session, fresh, **{"If-None-Match": headers["ETag"]})
        assert (status, body) == (304, b"")


async def test_auto_format_is_keyed_on_the_accept_bucket(stack) -> None:  # type: ignore[no-untyped-def]
    nginx, app = stack
    url = signed(nginx.url, "Auto", fmt="auto")
    async with aiohttp.ClientSession() as session:
        avif = await fetch(session, url, Accept="image/avif,image/webp,*/*")
        webp = await fetch(session, url, Accept="image/webp,*/*")
        other = await fetch(session, url, Accept="image/avif;q=0,image/png")
        # Another spelling in the avif bucket is a hit, not a second variant.
        again = await fetch(session, url, Accept="image/avif")
    assert [r[1]["Content-Type"] for r in (avif, webp, again)] == [
        "image/avif", "image/webp", "image/avif"]
    assert other[1]["Content-Type"] in ("image/jpeg", "image/png")   # the template's fallback
    assert [r[1]["X-Cache-Status"] for r in (avif, webp, other, again)] == [
        "MISS", "MISS", "MISS", "HIT"]
    assert avif[1]["Vary"] == "Accept"
    assert again[2] == avif[2]
    assert app.seen[path_of(url)] == 3


async def test_hash_routes_each_url_to_exactly_one_instance(settings: Settings,
                                                            prefix: Path) -> None:
    apps = [await start_counted(settings), await start_counted(settings)]
    nginx = start_nginx(prefix, [a.port for a in apps], cache=False)
    try:
        urls = [signed(nginx.url, f"Route {i}") for i in range(40)]
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                results = await asyncio.gather(*(fetch(session, u) for u in urls))
                assert {r[0] for r in results} == {200}
        for url in urls:
            counts = [a.seen[path_of(url)] for a in apps]
            assert sorted(counts) == [0, 2], (url, counts)
        assert all(sum(a.seen.values()) > 0 for a in apps)
    finally:
        nginx.stop()
        for a in apps:
            await a.server.close()
