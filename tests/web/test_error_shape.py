"""The error contract: one JSON shape for every error, no-store, nothing internal leaked."""

from __future__ import annotations

import aiohttp

from proxy.urls import sign_url
from tests.conftest import TEST_KEYS


async def get_json(url: str) -> tuple[int, dict[str, object], str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json(), resp.headers["Cache-Control"]


async def test_invalid_value_shape_is_pinned(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign_url("social-card", {"name": "A" * 81}, keys=TEST_KEYS, base_url=base)
    status, body, cache = await get_json(url)
    assert (status, cache) == (400, "no-store")
    assert body == {"ok": False, "status": 400, "code": "invalid_value",
                    "error": "name: longer than 80 characters", "field": "name"}


async def test_bad_signature_shape(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, body, _ = await get_json(f"{base}/i/AAAA/social-card.png?name=x")
    assert body == {"ok": False, "status": 403, "code": "bad_signature",
                    "error": "invalid signature"}


async def test_unexpected_failure_is_a_generic_500(live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import proxy.web.service as service

    def broken(job, memo):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internal detail /etc/picstream")

    monkeypatch.setattr(service, "render", broken)
    base, _ = live
    url = sign_url("social-card", {"name": "Boom"}, keys=TEST_KEYS, base_url=base)
    status, body, cache = await get_json(url)
    assert (status, cache) == (500, "no-store")
    assert body == {"ok": False, "status": 500, "code": "internal", "error": "internal error"}


async def test_unknown_route_is_json_too(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, body, cache = await get_json(f"{base}/nope")
    assert status == 404 and body["ok"] is False and cache == "no-store"


async def test_json_405_keeps_allow_and_errors_are_nosniff(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    async with aiohttp.ClientSession() as session:
        async with session.delete(base + "/v1/render") as resp:
            assert resp.status == 405
            assert resp.content_type == "application/json"
            assert "POST" in resp.headers["Allow"]        # dropped by the JSON rewrite before
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(f"{base}/i/AAAA/social-card.png?name=x") as resp:
            assert resp.status == 403
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(base + "/no-such-page") as resp:
            assert resp.status == 404
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
