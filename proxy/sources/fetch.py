"""Guarded async fetch of remote source images: checked addresses, manual redirects, byte cap."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import re
import socket
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cachetools import TTLCache
from yarl import URL

from ..cache import SingleFlight
from ..config import Sources, port_range
from ..errors import BadSource, Overloaded, UpstreamFailed
from .addresses import (
    AllowedNetwork,
    OddHost,
    check_host_form,
    host_allowed,
    is_forbidden,
    parse_allowed_network,
    parse_ip,
)
from .sniff import check_image, quick_check

RASTER_FORMATS = frozenset({"jpeg", "png", "webp", "gif", "avif", "heif"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024
_HEADERS = {
    "User-Agent": "PicStream/0.1 (source fetch)",
    "Accept": "image/*",
    # We decode these ourselves with a cap on the decoded size (see _Decoder).
    "Accept-Encoding": "gzip, deflate",
}

Lookup = Callable[[str, int], Awaitable[Sequence[str]]]
"""Name -> IP strings; the default is loop.getaddrinfo. Tests inject a fake DNS."""


@dataclass(frozen=True)
class FetchResult:
    """A fetched, sniffed and header-checked source image."""

    data: bytes
    url: str
    fmt: str
    fetch_ms: float


class ForbiddenAddress(OSError):
    """A resolved or connected address is in the deny table (an OSError so aiohttp wraps it)."""


def _check_address(text: str, *, allow_loopback: bool, allow: tuple[AllowedNetwork, ...] = (),
                   port: int | None = None) -> None:
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    reason = is_forbidden(ip, allow_loopback=allow_loopback, allow=allow, port=port)
    if reason is not None:
        raise ForbiddenAddress(f"address {ip} refused: {reason}")


class CheckedResolver(AbstractResolver):
    """Resolve once, refuse the host if ANY address is forbidden, return the checked addresses.

    aiohttp connects to exactly what this returns, so there is no second lookup to rebind.
    It is skipped for IP literals (DESIGN "Security facts"): the socket factory covers those.
    """

    def __init__(self, lookup: Lookup, *, allow_loopback: bool,
                 allow: tuple[AllowedNetwork, ...] = ()) -> None:
        self._lookup = lookup
        self._allow_loopback = allow_loopback
        self._allow = allow

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """Checked addresses of `host`; ForbiddenAddress if any one is denied."""
        found = list(dict.fromkeys(await self._lookup(host, port)))
        if not found:
            raise OSError(f"no address for {host}")
        results: list[ResolveResult] = []
        for text in found:
            _check_address(text, allow_loopback=self._allow_loopback, allow=self._allow,
                           port=port or None)
            ip = ipaddress.ip_address(text)
            fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            if family not in (socket.AF_UNSPEC, fam):
                continue
            results.append(ResolveResult(hostname=host, host=str(ip), port=port, family=fam,
                                         proto=0, flags=socket.AI_NUMERICHOST))
        if not results:
            raise OSError(f"no address of the requested family for {host}")
        return results

    async def close(self) -> None:
        """Nothing to release."""


async def system_lookup(host: str, port: int) -> list[str]:
    """Resolve with the event loop's getaddrinfo (async, in its executor)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _Decoder:
    """Content-Encoding decoding that never produces more than `room + 1` bytes per call.

    aiohttp's own decompression turned a 1 MB gzip body into 2 GiB (DESIGN "Security facts"),
    so the session runs with auto_decompress=False and this caps each step with max_length.
    """

    def __init__(self, encoding: str) -> None:
        self._mode = encoding
        self._z: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, chunk: bytes, room: int) -> bytes:
        if self._mode in ("", "identity"):
            return chunk
        if self._z is None:  # deflate: zlib-wrapped per RFC, raw in practice from some servers
            zlib_header = len(chunk) >= 2 and (chunk[0] & 0x0F) == 8 and \
                (chunk[0] << 8 | chunk[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        try:
            # max_length=0 would mean "unlimited"; room + 1 >= 1 and detects the overflow.
            return self._z.decompress(chunk, room + 1)
        except zlib.error as exc:
            raise BadSource("source body is not valid compressed data", detail=str(exc)) from None

    def flush(self) -> bytes:
        if self._z is None:
            return b""
        return self._z.flush()


class Fetcher:
    """Fetches remote sources under the `Sources` limits; one shared ClientSession, one cache.

    Start it with `await start()` (or `async with`), stop with `await close()`: the app pairs
    them in a cleanup_ctx. `lookup` replaces DNS (tests map `evil.test` to loopback with it).
    """

    def __init__(self, settings: Sources, *, lookup: Lookup | None = None) -> None:
        self.settings = settings
        self.formats = RASTER_FORMATS | ({"svg"} if settings.allow_svg else set())
        self._lookup = lookup or system_lookup
        self._ports = [r for r in map(port_range, settings.allow_ports) if r is not None]
        # validated at start (config._check_cross); parsed once here
        self._allow = tuple(parse_allowed_network(t) for t in settings.allow_networks)
        self._session: aiohttp.ClientSession | None = None
        # Header checks parse hostile bytes in libvips (a large GIF's frame count took 0.1 s):
        # never on the event loop, and not in the default executor DNS lookups wait on.
        self._checks: ThreadPoolExecutor | None = None
        self.downloads = 0          # in progress now, bounded by max_concurrent_fetches
        self.downloads_refused = 0
        self._flight: SingleFlight[str, FetchResult] = SingleFlight()
        self._cache: TTLCache[str, FetchResult] | None = None
        if settings.cache_max_bytes > 0 and settings.cache_ttl_s > 0:
            self._cache = TTLCache(maxsize=settings.cache_max_bytes, ttl=settings.cache_ttl_s,
                                   getsizeof=lambda r: len(r.data))

    async def start(self) -> None:
        """Create the shared session; its connector only ever connects to checked addresses."""
        if self._session is not None:
            return
        self._checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="source-check")
        connector = self.guarded_connector(limit=100, limit_per_host=8)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            trust_env=False,  # never route source fetches through an env-configured proxy
            cookie_jar=aiohttp.DummyCookieJar(),
            headers=_HEADERS,
            read_bufsize=_CHUNK_BYTES,
        )

    def guarded_connector(self, *, limit: int, limit_per_host: int) -> aiohttp.TCPConnector:
        """A connector that only dials checked addresses (source fetches, batch webhooks)."""
        return aiohttp.TCPConnector(
            resolver=CheckedResolver(self._lookup, allow_loopback=self.settings.allow_loopback,
                                     allow=self._allow),
            socket_factory=self._socket, limit=limit, limit_per_host=limit_per_host)

    async def close(self) -> None:
        """Cancel in-flight fetches and close the session."""
        await self._flight.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._checks is not None:
            self._checks.shutdown(wait=False, cancel_futures=True)
            self._checks = None

    async def check(self, data: bytes, allowed: Collection[str]) -> str:
        """check_image(data) under these settings' limits, off the event loop."""
        if self._checks is None:
            raise RuntimeError("Fetcher.start() was not awaited")
        quick = quick_check(data, allowed=allowed, max_pixels=self.settings.max_pixels)
        if quick is not None:
            return quick
        return await asyncio.get_running_loop().run_in_executor(self._checks, partial(
            check_image, data, allowed=allowed, max_pixels=self.settings.max_pixels,
            max_frames=self.settings.max_frames))

    async def __aenter__(self) -> Fetcher:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def _socket(self, addr_info: tuple[object, ...]) -> socket.socket:
        # The connect-time check: every address aiohttp dials passes here, IP literals
        # included, which the resolver never sees (DESIGN "Security facts").
        family, type_, proto, _, sockaddr = addr_info
        assert isinstance(sockaddr, tuple)
        _check_address(str(sockaddr[0]), allow_loopback=self.settings.allow_loopback,
                       allow=self._allow, port=int(sockaddr[1]))
        return socket.socket(family, type_, proto)  # type: ignore[arg-type]

    async def fetch(self, url: str) -> FetchResult:
        """The checked image at `url`; concurrent calls for one URL share one fetch."""
        if self._cache is not None:
            hit = self._cache.get(url)
            if hit is not None:
                return dataclasses.replace(hit, fetch_ms=0.0)
        # One fetch per URL however many renders ask; one caller giving up does not cancel
        # it for the others (SingleFlight shields the shared task).
        return await self._flight.run(url, lambda: self._fetch_and_store(url))

    async def _fetch_and_store(self, url: str) -> FetchResult:
        start = time.perf_counter()
        # Each download may hold up to max_bytes: their number is bounded like renders are.
        if self.downloads >= self.settings.max_concurrent_fetches:
            self.downloads_refused += 1
            raise Overloaded("too many source downloads in progress; retry shortly")
        self.downloads += 1
        try:
            async with asyncio.timeout(self.settings.fetch_timeout_s):
                data, final_url = await self._follow(url)
        except TimeoutError:
            raise UpstreamFailed("source timed out", detail=f"{url}: over "
                                 f"{self.settings.fetch_timeout_s}s") from None
        finally:
            self.downloads -= 1
        fmt = await self.check(data, self.formats)
        result = FetchResult(data=data, url=str(final_url), fmt=fmt,
                             fetch_ms=(time.perf_counter() - start) * 1000)
        if self._cache is not None:
            # ValueError: larger than the whole cache; serve it, do not keep it.
            with contextlib.suppress(ValueError):
                self._cache[url] = result
        return result

    async def _follow(self, url: str) -> tuple[bytes, URL]:
        target = self.parse_url(url)
        for hop in range(self.settings.max_redirects + 1):
            status, location, body = await self._get(target)
            if status not in _REDIRECTS:
                return body, target
            if location is None:
                raise UpstreamFailed("source redirect has no location",
                                     detail=f"{target} {status}")
            if hop == self.settings.max_redirects:
                break
            try:
                target = self._redirect_target(target, location)
            except BadSource as exc:
                # A refused redirect is the upstream's fault, not the client's URL.
                raise UpstreamFailed("source redirected to a refused URL",
                                     detail=f"{target} -> {location!r}: {exc.public}") from None
        raise UpstreamFailed("source redirected too many times",
                             detail=f"{url}: more than {self.settings.max_redirects}")

    def _redirect_target(self, current: URL, location: str) -> URL:
        _refuse_raw(location)
        if location.lower().startswith(("http://", "https://")):
            return self.parse_url(location)
        try:
            # yarl raises ValueError for `//[bad` or a port over 65535: the upstream's fault
            joined = current.join(URL(location))
        except ValueError as exc:
            raise BadSource("source redirect location is not valid", detail=str(exc)) from None
        return self.parse_url(str(joined))

    def parse_url(self, url: str) -> URL:
        """Validate a source URL once, with yarl (what aiohttp connects with), or raise."""
        _refuse_raw(url)
        if not url.lower().startswith(("http://", "https://")):
            raise BadSource("source URL must start with http:// or https://")
        if not self.settings.allow_http and not url.lower().startswith("https://"):
            raise BadSource("source URL must use https://")
        authority = url.split("://", 1)[1]
        for stop in "/?#":
            authority = authority.split(stop, 1)[0]
        if "@" in authority:
            raise BadSource("source URL must not contain credentials")
        raw_host = authority if authority.startswith("[") else authority.rsplit(":", 1)[0]
        try:
            parsed = URL(url)
            port = parsed.port
        except ValueError as exc:
            raise BadSource("source URL is not valid", detail=str(exc)) from None
        if port is None or not any(low <= port <= high for low, high in self._ports):
            raise BadSource("source URL port is not allowed", detail=f"port {port}")
        host = parsed.raw_host
        if parsed.scheme not in ("http", "https") or not host or parsed.user is not None \
                or parsed.password is not None:
            raise BadSource("source URL is not valid", detail=url)
        ip = parse_ip(host)
        if ip is None:
            try:
                # Both spellings: yarl folds Unicode digits into IPv4 (DESIGN "Security facts").
                check_host_form(raw_host)
                check_host_form(host)
            except OddHost as exc:
                raise BadSource("source URL host is not valid", detail=str(exc)) from None
        if not host_allowed(host, self.settings.allow_hosts, self.settings.deny_hosts):
            raise UpstreamFailed("source host is not allowed", detail=host)
        if ip is not None:
            reason = is_forbidden(ip, allow_loopback=self.settings.allow_loopback,
                                  allow=self._allow, port=parsed.port)
            if reason is not None:
                raise UpstreamFailed("source address is not allowed", detail=f"{ip}: {reason}")
        return parsed.with_fragment(None)

    async def _get(self, url: URL) -> tuple[int, str | None, bytes]:
        if self._session is None:
            raise RuntimeError("Fetcher.start() was not awaited")
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout_s,
                                        sock_connect=self.settings.connect_timeout_s,
                                        sock_read=self.settings.fetch_timeout_s)
        try:
            async with self._session.get(url, allow_redirects=False, timeout=timeout) as resp:
                if resp.status in _REDIRECTS:
                    return resp.status, resp.headers.get("Location"), b""
                if not 200 <= resp.status < 300:
                    # The status goes to the log; the upstream body goes nowhere.
                    raise UpstreamFailed("source could not be fetched",
                                         detail=f"{url}: HTTP {resp.status}")
                return resp.status, None, await self._read_capped(resp)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ForbiddenAddress):
                raise UpstreamFailed("source address is not allowed",
                                     detail=f"{url}: {exc.os_error}") from None
            raise UpstreamFailed("source could not be reached", detail=f"{url}: {exc}") from None
        except TimeoutError:
            raise UpstreamFailed("source timed out", detail=str(url)) from None
        except aiohttp.ClientError as exc:
            raise UpstreamFailed("source could not be fetched",
                                 detail=f"{url}: {type(exc).__name__}: {exc}") from None

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        # Over the cap is BadSource (422): the source is unusable; TooLarge (413) is kept for
        # what the client itself sends.
        cap = self.settings.max_bytes
        too_big = BadSource(f"source larger than {cap} bytes")
        if resp.content_length is not None and resp.content_length > cap:
            raise too_big
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise UpstreamFailed("source used an unsupported content encoding",
                                 detail=encoding[:40])
        decoder = _Decoder(encoding)
        out = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
            out += decoder.feed(chunk, cap - len(out))
            if len(out) > cap:
                raise too_big
        out += decoder.flush()
        if len(out) > cap:
            raise too_big
        return bytes(out)


# Whitespace (re's \s is str.isspace's set), C0 controls, DEL and backslash.
_RAW_REFUSED = re.compile(r"[\s\x00-\x1f\x7f\\]")


def _refuse_raw(url: str) -> None:
    # aiohttp/yarl strip surrounding whitespace and drop inner tabs and newlines; a URL that
    # needs that is refused rather than silently reinterpreted.
    if _RAW_REFUSED.search(url):
        raise BadSource("source URL contains whitespace, control characters or backslashes")
