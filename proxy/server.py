"""Run the app: uvloop, one process or N pre-forked workers sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys

from .config import Settings, replace
from .errors import ConfigError
from .logs import AccessLog, setup_logging

# aiohttp's own default for a site's listen() backlog.
_BACKLOG = 128


def _serve_one(settings: Settings, sock: socket.socket | None) -> None:
    import uvloop

    from .web.app import create_app
    from .web.protocol import serve

    setup_logging(settings.server.log_format)
    # Access lines leave in one write per 50 ms, not one per request (logs.py AccessLog).
    access_log = AccessLog(settings.server.log_format, flush_after_s=0.05)
    app = create_app(settings, access_log=access_log)
    # uvloop is installed in exactly one place: here.
    uvloop.install()
    serve(app, host=settings.server.host, port=settings.server.port, sock=sock,
          shutdown_timeout_s=settings.server.shutdown_timeout_s)


def _family(settings: Settings) -> socket.AddressFamily:
    """The address family of `server.host` (an IPv6 address has a colon)."""
    return socket.AF_INET6 if ":" in settings.server.host else socket.AF_INET


def _listeners(settings: Settings, count: int) -> list[socket.socket]:
    """`count` listening SO_REUSEPORT sockets on one port (port 0 resolved by the first)."""
    family = _family(settings)
    socks: list[socket.socket] = []
    port = settings.server.port
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((settings.server.host, port))
            port = sock.getsockname()[1]
            sock.listen(_BACKLOG)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def check_port(settings: Settings) -> None:
    """Raise ConfigError naming the setting when the address is taken, before the banner.

    Bound without SO_REUSEPORT: a server already on the port (ours included, which sets it)
    makes this fail instead of silently sharing the port with it.
    """
    if settings.server.port == 0:
        return
    family = _family(settings)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.server.host, settings.server.port))
        except OSError as exc:
            raise ConfigError(
                f"server.port (PICSTREAM_SERVER_PORT): cannot listen on "
                f"{settings.server.host}:{settings.server.port}: {exc.strerror or exc}; "
                "is another server running there? pick another with --port") from None


def run_server(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; with workers > 1, supervise N forked processes."""
    workers = settings.server.workers
    if workers <= 1:
        _serve_one(settings, None)
        return
    # Each worker accepts on its own SO_REUSEPORT socket and the kernel spreads connections
    # over them by address hash. One shared listening socket was measured unfair: whichever
    # worker woke first took most keep-alive connections (bench/results/workers.md). The
    # sockets all listen before any worker starts: when each worker opened its own, the
    # first one up took every connection made before the others had imported (8 of 8 in
    # two starts of three), and keep-alive clients stayed on it. A connection to a worker
    # still starting waits in its socket's backlog instead.
    socks = _listeners(settings, workers)
    settings = replace(settings, server={"port": socks[0].getsockname()[1]})
    # spawn, not fork: the startup check has already rendered in this process, and a child
    # forked after libvips started its threads deadlocks on its first render (measured:
    # every miss hung with --workers 2).
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_serve_one, args=(settings, sock), daemon=False)
             for sock in socks]
    for proc in procs:
        proc.start()
    # start() has handed each worker a duplicate of its socket: the supervisor keeps none, so
    # a worker that exits takes its socket out of the port's group with it.
    for sock in socks:
        sock.close()

    def stop(signum: int, frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.join()
    sys.exit(max((p.exitcode or 0) for p in procs))


__all__ = ["run_server"]
