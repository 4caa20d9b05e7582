"""aiohttp's own protocol errors (bad request line, header too long) answered like ours.

aiohttp refuses a request it cannot parse before any middleware runs, with a plain-text body
that quotes the offending bytes and no Cache-Control; it logs a multi-line traceback on the
`aiohttp.server` logger. The runner here swaps in a request handler whose answer is our JSON
error shape with `no-store` and which logs one line on `picstream.protocol` (JSON under
log_format=json). `serve()` replaces `web.run_app` for that runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_runner import GracefulExit

from .hits import hits_first

log = logging.getLogger("picstream.protocol")


def protocol_error_response(status: int) -> web.Response:
    """The JSON error shape of web/middleware.py for a request aiohttp could not parse."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "error"
    body = {"ok": False, "status": status, "code": "bad_request" if status < 500 else "internal",
            "error": reason.lower()}
    response = web.Response(status=status, text=json.dumps(body),
                            content_type="application/json",
                            headers={"Cache-Control": "no-store"})
    response.force_close()
    return response


class _JsonErrorHandler(RequestHandler):
    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        # The exception text quotes client bytes: logged as one escaped field, never echoed.
        log.warning("protocol error", extra={"fields": {
            "status": status, "error": type(exc).__name__ if exc else None,
            "detail": (str(exc) if exc else message or "")[:300], "remote": request.remote}})
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        return protocol_error_response(status)


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """An AppRunner whose connections answer protocol errors with our JSON and no-store, and
    known memory hits before routing (web/hits.py)."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _JsonErrorServer(hits_first(self.app, plain.request_handler),
                                request_factory=plain.request_factory,
                                handler_cancellation=plain.handler_cancellation,
                                loop=plain._loop, **plain._kwargs)


def serve(app: web.Application, *, host: str, port: int, sock: socket.socket | None,
          shutdown_timeout_s: float) -> None:
    """Serve `app` until SIGTERM/SIGINT, as `web.run_app` does, through JsonErrorRunner."""

    async def main() -> None:
        runner = JsonErrorRunner(app, handle_signals=True, access_log=None,
                                 shutdown_timeout=shutdown_timeout_s)
        await runner.setup()
        try:
            site: web.BaseSite
            if sock is not None:
                site = web.SockSite(runner, sock)
            else:
                site = web.TCPSite(runner, host, port)
            await site.start()
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    task = loop.create_task(main())
    try:
        loop.run_until_complete(task)
    except (GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


__all__ = ["JsonErrorRunner", "protocol_error_response", "serve"]
