"""Every AppKey of the application (imported by app and handlers; avoids import cycles)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from ..config import Settings
from ..logs import AccessLog
from ..sources.assets import AssetStore
from ..sources.fetch import Fetcher
from ..template.registry import Registry
from .facts import RequestFacts
from .service import ImageService, RenderObserver


class RequestObserver(RenderObserver, Protocol):
    """What the middleware and the image service report to (web/metrics_route.py)."""

    def observe_request(self, request: web.BaseRequest, status: int, elapsed_ms: float,
                        facts: RequestFacts, route: str | None = None) -> None:
        """Record one request."""


SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("image_service", ImageService)
REGISTRY = web.AppKey("registry", Registry)
METRICS: web.AppKey[RequestObserver] = web.AppKey("metrics")  # web/metrics_route.py
FETCHER = web.AppKey("fetcher", Fetcher)
ASSETS = web.AppKey("assets", AssetStore)
ACCESS_LOG = web.AppKey("access_log", AccessLog)

# What each request did (web/facts.py): the access log and metrics read it after the handler.
FACTS = web.RequestKey("facts", RequestFacts)
API_KEY_NAME = web.RequestKey("api_key_name", str)  # the verified key's name (web/api.py)
