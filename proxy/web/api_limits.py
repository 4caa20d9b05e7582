"""What one API key may make the server do: render and batch quotas, and the minting pool.

Batch items are validated and signed on a pool of their own: 10,000 items take a moment of
CPU, and on the default executor they queued in front of DNS lookups and disk-cache reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from ..quota import KeyQuota
from .keys import API_KEY_NAME, SETTINGS


@dataclass(frozen=True)
class ApiLimits:
    """Per-app quotas and the minting pool."""

    renders: KeyQuota
    batch_items: KeyQuota
    mint_pool: ThreadPoolExecutor


API_LIMITS = web.AppKey("api_limits", ApiLimits)


async def _limits(app: web.Application) -> AsyncIterator[None]:
    api = app[SETTINGS].api
    limits = ApiLimits(
        renders=KeyQuota("renders", api.renders_per_minute_per_key, 60.0,
                         "api.renders_per_minute_per_key"),
        batch_items=KeyQuota("batch items", api.batch_items_per_hour_per_key, 3600.0,
                             "api.batch_items_per_hour_per_key"),
        mint_pool=ThreadPoolExecutor(max_workers=api.mint_threads, thread_name_prefix="mint"))
    app[API_LIMITS] = limits
    yield
    limits.mint_pool.shutdown(wait=True, cancel_futures=True)


def setup_api_limits(app: web.Application) -> None:
    """Add the quotas and the minting pool to the app."""
    app.cleanup_ctx.append(_limits)


def charge_render(request: web.Request) -> None:
    """Count one render against the caller's key (429 past its quota)."""
    request.app[API_LIMITS].renders.charge(request[API_KEY_NAME])


def charge_batch(request: web.Request, items: int) -> None:
    """Count a batch's items against the caller's key (429 past its quota)."""
    request.app[API_LIMITS].batch_items.charge(request[API_KEY_NAME], items)


def mint_pool(app: web.Application) -> ThreadPoolExecutor:
    """The pool batch items are minted on."""
    return app[API_LIMITS].mint_pool
