"""`server.workers > 1`: every worker takes connections from the first one the port accepts."""

from __future__ import annotations

import http.client
import time

from tests.support.servers import ProcessServer

CONNECTIONS = 16
# Which worker is up first is a race: the old code lost it in about half the starts here,
# so the test starts the server three times.
STARTS = 3


def _first_connection(port: int, server: ProcessServer) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.connect()
            return conn
        except ConnectionRefusedError:
            assert server.proc.poll() is None, server.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the port never accepted a connection"
            time.sleep(0.005)


def test_connections_made_as_soon_as_the_port_accepts_reach_every_worker(settings_factory) -> None:  # type: ignore[no-untyped-def]
    # A keep-alive pool (nginx upstream, a load test) connects as soon as the port accepts and
    # keeps its connections. When each worker opened its own socket, the first worker up took
    # every such connection and the others idled for the connections' life.
    settings = settings_factory(server={"workers": 2, "port": 0})
    for _ in range(STARTS):
        assert _workers_reached(ProcessServer(settings, wait=False)) == 2


def _workers_reached(server: ProcessServer) -> int:
    try:
        conns = [_first_connection(server.port, server)]
        conns += [http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                  for _ in range(CONNECTIONS - 1)]
        for conn in conns[1:]:
            conn.connect()
        workers = set()
        for conn in conns:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            # A request id is the worker's random prefix (10 hex digits) and a counter.
            workers.add(resp.getheader("X-Request-Id", "")[:10])
            conn.close()
        # The kernel hashes each connection to a worker's socket: all 16 on one has odds of
        # 2 in 65,536.
        return len(workers)
    finally:
        assert server.stop() == 0
