"""create_app(settings): routes, middlewares, and one cleanup_ctx per resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from ..cache import BoundedDict, ByteLRU, CachedImage, DiskCache, SingleFlight
from ..config import Settings
from ..logs import AccessLog
from ..render.fontcheck import font_ok
from ..render.memo import RenderMemo
from ..render.vips import bound_vips_cache
from ..sources.assets import AssetStore
from ..sources.fetch import Fetcher
from ..sources.resolve import SourceResolver
from ..template.registry import Registry
from .api import setup_api
from .gate import RenderGate
from .images import IMAGE_ROUTE, handle_image
from .keys import ACCESS_LOG, ASSETS, FETCHER, METRICS, REGISTRY, SERVICE, SETTINGS
from .metrics_route import setup_metrics
from .middleware import RECORDER, RequestRecorder, errors_and_access_log
from .ops import healthz, readyz
from .playground import setup_playground
from .service import ImageService

NGINX_MAX_REQUEST_LINE_BYTES = 16 * 1024   # nginx.conf: large_client_header_buffers 4 16k


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    bound_vips_cache(settings.cache.vips_max_ops, settings.cache.vips_max_bytes)
    pool = ThreadPoolExecutor(max_workers=settings.server.render_thread_count,
                              thread_name_prefix="render")
    fetcher = Fetcher(settings.sources)
    await fetcher.start()
    assets = AssetStore(Path(settings.sources.data_dir) / "assets",
                        max_bytes=settings.sources.assets_max_bytes)
    disk = (DiskCache(Path(settings.cache.disk_dir), settings.cache.disk_max_bytes)
            if settings.cache.disk_dir else None)
    flight: SingleFlight[str, CachedImage] = SingleFlight()
    service = ImageService(
        settings=settings, memo=RenderMemo(settings.cache.render_memo_max_bytes),
        lru=ByteLRU(settings.cache.memory_max_bytes),
        known_urls=BoundedDict(settings.cache.known_urls_max),
        disk=disk, flight=flight, pool=pool,
        gate=RenderGate(settings.server.render_queue_max),
        sources=SourceResolver(settings, fetcher, assets), observer=app.get(METRICS))
    app[SERVICE] = service
    app[FETCHER] = fetcher
    app[ASSETS] = assets
    yield
    await flight.aclose()
    await fetcher.close()
    pool.shutdown(wait=True, cancel_futures=True)


async def _flushed(access_log: AccessLog) -> None:
    access_log.flush()


def create_app(settings: Settings, *, registry: Registry | None = None,
               access_log: AccessLog | None = None) -> web.Application:
    """The aiohttp application for `settings` (templates loaded and checked here).

    `access_log` receives one line per request; without it lines go to the
    `picstream.access` logger (silent unless logging is set up).
    """
    # aiohttp refuses request lines over 8190 bytes with its own 400; let ours answer 414. Every
    # line the shipped nginx.conf passes on (16 KiB buffers) reaches the app's 414 too.
    line = max(settings.limits.max_url_bytes + 1024, NGINX_MAX_REQUEST_LINE_BYTES)
    recorder = RequestRecorder()
    app = web.Application(middlewares=[errors_and_access_log(recorder)],
                          client_max_size=settings.api.max_body_bytes,
                          handler_args={"max_line_size": line, "max_field_size": 16384})
    app[SETTINGS] = settings
    app[RECORDER] = recorder
    app.on_startup.append(recorder.bind)
    if access_log is not None:
        app[ACCESS_LOG] = access_log
        app.on_cleanup.append(lambda _: _flushed(access_log))
    app[REGISTRY] = registry or Registry(Path(settings.templates.dir),
                                         reload=settings.templates.reload, font_ok=font_ok,
                                         watch=(Path(settings.templates.fonts_dir),))
    app.cleanup_ctx.append(_resources)
    app.router.add_get(IMAGE_ROUTE, handle_image)  # HEAD too
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    setup_api(app)  # after _resources: its cleanup_ctx needs the ImageService
    setup_metrics(app)
    if settings.server.playground:
        setup_playground(app)
    return app
