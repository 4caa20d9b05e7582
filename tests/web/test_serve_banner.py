"""The URLs `picstream serve` prints: every one a new user clicks must render."""

from __future__ import annotations

import aiohttp

from proxy.cli import _example_urls
from proxy.config import Settings, replace


async def test_every_banner_url_answers_200(live, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    # The photo template needs a source: its bare URL used to be printed and answered 400.
    base, _ = live
    printed = _example_urls(replace(settings, server={"public_base_url": base}))
    urls = [line for line in printed if line.startswith("http")]
    assert len(urls) >= 3
    assert any("photo" in line and "src" in line for line in printed if not line.startswith("http"))
    async with aiohttp.ClientSession() as session:
        for url in urls:
            async with session.get(url) as response:
                assert response.status == 200, url
