"""The ceiling: aiohttp + uvloop answering a fixed body, no routing logic, no cache lookups."""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web


def main() -> None:
    """`python -m bench.ceiling PORT BYTES`."""
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = b"\xff" * size

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="image/jpeg",
                            headers={"Cache-Control": "public, max-age=31536000, immutable",
                                     "ETag": '"0123456789abcdef0123456789abcdef"'})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
