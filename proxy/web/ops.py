"""/healthz (process up) and /readyz (templates loaded, render pool alive)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .keys import REGISTRY, SERVICE, SETTINGS
from .trust import is_operator


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return web.json_response({"ok": True}, headers={"Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.Response:
    """Templates are loaded and the render pool runs a task."""
    registry = request.app[REGISTRY]
    service = request.app[SERVICE]
    names = registry.names()
    try:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.run_in_executor(service.pool, lambda: None), 2)
        pool_ok = True
    except (TimeoutError, RuntimeError):
        pool_ok = False
    ok = bool(names) and pool_ok
    body: dict[str, object] = {"ok": ok}
    # Template errors name files and lines: for operators (a direct request from this host or
    # the metrics token), not for whoever reaches /readyz through a proxy.
    if is_operator(request, request.app[SETTINGS].server.metrics_token):
        body |= {"templates": len(names), "pool": pool_ok, "template_errors": registry.errors,
                 "in_flight": service.gate.in_flight}
    return web.json_response(body, status=200 if ok else 503,
                             headers={"Cache-Control": "no-store"})
