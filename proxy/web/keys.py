"""Every AppKey of the application (imported by app and handlers; avoids import cycles)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from aiohttp import web

from ..cache import ByteLRU, CachedImage, DiskCache, SingleFlight
from ..config import Settings
from ..logs import AccessLog
from ..render.memo import RenderMemo
from ..sources.assets import AssetStore
from ..sources.fetch import Fetcher
from ..template.registry import Registry


class RequestObserver(Protocol):
    """What the middleware reports every finished request to (web/metrics_route.py)."""

    def observe_request(self, request: web.Request, status: int, elapsed_ms: float) -> None:
        """Record one request."""


SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", Registry)
MEMO = web.AppKey("render_memo", RenderMemo)
LRU = web.AppKey("image_lru", ByteLRU)
DISK = web.AppKey("image_disk", DiskCache)
FLIGHT: web.AppKey[SingleFlight[str, CachedImage]] = web.AppKey("single_flight", SingleFlight)
POOL = web.AppKey("render_pool", ThreadPoolExecutor)
RENDERS = web.AppKey("render_gate", Any)          # RenderGate (web/gate.py)
SOURCES = web.AppKey("sources", Any)              # SourceResolver (sources/resolve.py)
METRICS: web.AppKey[RequestObserver] = web.AppKey("metrics")  # web/metrics_route.py
API = web.AppKey("api_state", Any)                # ApiState (web/api.py)
FETCHER = web.AppKey("fetcher", Fetcher)
ASSETS = web.AppKey("assets", AssetStore)
ACCESS_LOG = web.AppKey("access_log", AccessLog)

# Per-request facts the access log and metrics read after the handler ran.
REQUEST_ID = web.RequestKey("request_id", str)
TEMPLATE_NAME = web.RequestKey("template", str)
CACHE_TIER = web.RequestKey("cache_tier", str)
