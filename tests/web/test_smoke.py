"""The server answers a signed URL with the right image (smoke test of the live fixture)."""

from __future__ import annotations

import aiohttp
import pyvips

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS


async def test_signed_url_renders(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign_url("social-card", {"name": "Ann"}, keys=TEST_KEYS, fmt="png", base_url=base)
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.read()
    image = pyvips.Image.new_from_buffer(body, "")
    assert (image.width, image.height) == (1200, 630)
