"""Every in-process cache takes its bound from the settings (issue #10, memory)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pyvips

from proxy.config import Settings
from proxy.web.keys import SERVICE
from tests.support.servers import start_app


async def test_caches_take_their_bounds_from_the_settings(settings: Settings) -> None:
    small: Any = replace(settings.cache, render_memo_max_bytes=8 * 1024 * 1024,
                         known_urls_max=50, vips_max_ops=20, vips_max_bytes=4 * 1024 * 1024)
    server, app = await start_app(replace(settings, cache=small))
    try:
        service = app[SERVICE]
        assert service.known_urls.max_entries == 50
        assert service.memo._cache.maxsize == 8 * 1024 * 1024
        assert pyvips.cache_get_max() == 20
        assert pyvips.cache_get_max_mem() == 4 * 1024 * 1024
    finally:
        await server.close()
        defaults = Settings().cache
        pyvips.cache_set_max(defaults.vips_max_ops)
        pyvips.cache_set_max_mem(defaults.vips_max_bytes)
