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


def _serve_one(settings: Settings, sock: socket.socket | None,
               reuse_port: bool = False) -> None:
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
          reuse_port=reuse_port, shutdown_timeout_s=settings.server.shutdown_timeout_s)


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.server.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.server.host, settings.server.port))
    return sock


def check_port(settings: Settings) -> None:
    """Raise ConfigError naming the setting when the address is taken, before the banner.

    Bound without SO_REUSEPORT: a server already on the port (ours included, which sets it)
    makes this fail instead of silently sharing the port with it.
    """
    if settings.server.port == 0:
        return
    family = socket.AF_INET6 if ":" in settings.server.host else socket.AF_INET
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
    # Each worker listens on its own SO_REUSEPORT socket and the kernel spreads connections
    # over them by address hash. One shared listening socket was measured unfair: whichever
    # worker woke first took most keep-alive connections (bench/results/workers.md). This
    # socket is bound but never listens, so it takes no connections: it makes a taken port
    # fail here, resolves port 0 once for all workers, and holds the port for the run.
    sock = _bind(settings)
    settings = replace(settings, server={"port": sock.getsockname()[1]})
    # spawn, not fork: the startup check has already rendered in this process, and a child
    # forked after libvips started its threads deadlocks on its first render (measured:
    # every miss hung with --workers 2).
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_serve_one, args=(settings, None, True), daemon=False)
             for _ in range(workers)]
    for proc in procs:
        proc.start()

    def stop(signum: int, frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.join()
    sock.close()
    sys.exit(max((p.exitcode or 0) for p in procs))


__all__ = ["run_server"]
