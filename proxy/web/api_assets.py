"""The assets API: upload an image into the asset store, read its info or bytes back."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from .. import formats
from ..errors import BadRequest, FieldError, InvalidBody, TooLarge
from ..sources.assets import AssetBackend, AssetInfo, asset_id
from ..sources.fetch import RASTER_FORMATS
from .api_body import read_body
from .keys import ASSETS, SETTINGS

ASSET_TYPES = {**{fmt.name: fmt.content_type for fmt in formats.ALL},
               "heif": "image/heif", "svg": "image/svg+xml"}


def _assets(request: web.Request) -> AssetBackend:
    return cast(AssetBackend, request.app[ASSETS])


async def _upload_bytes(request: web.Request, limit: int) -> bytes:
    if not request.content_type.startswith("multipart/"):
        return await read_body(request, limit)
    try:
        return await _first_file_part(request, limit)
    except (ValueError, AssertionError, HttpProcessingError):
        # aiohttp's multipart reader raises these for a malformed body: the client's fault.
        raise BadRequest("malformed multipart body") from None


async def _first_file_part(request: web.Request, limit: int) -> bytes:
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.filename is None and (
                part.name not in ("file", "image")):
            continue
        chunks: list[bytes] = []
        size = 0
        while chunk := await part.read_chunk(65536):
            size += len(chunk)
            # Multipart bodies bypass client_max_size: count the bytes ourselves.
            if size > limit:
                raise TooLarge(f"upload larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    raise InvalidBody([FieldError("file", "no file part in the multipart body")])


def _asset_json(info: AssetInfo) -> dict[str, Any]:
    return {"id": f"asset:{info.id}", "format": info.fmt, "width": info.width,
            "height": info.height, "bytes": info.bytes}


async def post_asset(request: web.Request) -> web.StreamResponse:
    """POST /v1/assets: store an image (raw body or multipart), checked like a remote source."""
    settings = request.app[SETTINGS]
    sources = settings.sources
    limit = min(settings.api.max_body_bytes, sources.max_bytes)
    data = await _upload_bytes(request, limit)
    if not data:
        raise InvalidBody([FieldError("file", "empty upload")])
    store = _assets(request)
    allowed = set(RASTER_FORMATS) | ({"svg"} if sources.allow_svg else set())
    loop = asyncio.get_running_loop()
    existed = await loop.run_in_executor(None, store.exists, asset_id(data))

    def put() -> AssetInfo:
        info: AssetInfo = store.put(data, allowed=allowed, max_pixels=sources.max_pixels,
                                    max_frames=sources.max_frames)
        return info

    # Sniffing, hashing, fsync and rename all block: keep them off the event loop.
    info = await loop.run_in_executor(None, put)
    return web.json_response(_asset_json(info), status=200 if existed else 201)


async def get_asset(request: web.Request) -> web.StreamResponse:
    """GET /v1/assets/{id}: info, or the stored bytes with `?raw=1`."""
    aid = request.match_info["id"].removeprefix("asset:")
    store = _assets(request)
    loop = asyncio.get_running_loop()
    info: AssetInfo = await loop.run_in_executor(None, store.info, aid)
    if request.query.get("raw") not in ("1", "true"):
        return web.json_response(_asset_json(info))
    data: bytes = await loop.run_in_executor(None, store.get, aid)
    return web.Response(body=data, headers={
        "Content-Type": ASSET_TYPES.get(info.fmt, "application/octet-stream"),
        "X-Content-Type-Options": "nosniff",
        # An uploaded SVG must never run script in our origin.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "Cache-Control": "private, max-age=31536000, immutable"})
