"""Playground endpoints without a browser: off by default, API-key gate, sign, live versions."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.errors import ProxyError
from proxy.request import build, check_format
from proxy.template.registry import Registry
from tests.conftest import ROOT
from tests.support.servers import start_app

API_KEY = "playground-test-key"


async def _status(url: str, **kw: Any) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, **kw) as resp:
        return resp.status


async def test_playground_is_off_by_default(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    assert await _status(base + "/playground") == 404
    assert await _status(base + "/playground/api/templates") == 404


async def test_api_keys_gate_the_playground(settings_factory) -> None:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    settings = settings_factory(server={"playground": True}, api={"keys": (f"ci:{digest}",)})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert await _status(base + "/playground") == 200          # static: holds nothing
        assert await _status(base + "/playground/api/templates") == 401
        # A key in the URL ends up in logs, history and Referer: refused, even a right one.
        assert await _status(base + f"/playground?key={API_KEY}") == 400
        assert await _status(base + f"/playground/api/templates?key={API_KEY}") == 400
        bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert await _status(base + "/playground/api/templates", headers=bearer) == 200
        # unsafe=True: aiohttp's jar otherwise ignores cookies of IP-address hosts.
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            async with session.post(base + "/playground/api/session",
                                    json={"key": "wrong"}) as resp:
                assert resp.status == 403
            async with session.post(base + "/playground/api/session",
                                    json={"key": API_KEY}) as resp:
                assert resp.status == 200
                cookie = resp.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "Secure" not in cookie   # plain http here
            # The cookie set by the session lets the page's own fetches through.
            async with session.get(base + "/playground/api/templates") as resp:
                assert resp.status == 200
    finally:
        await server.close()


async def test_cookie_is_secure_behind_a_tls_proxy_only_when_trusted(  # type: ignore[no-untyped-def]
        settings_factory) -> None:
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    for trusted, secure in ((("127.0.0.1",), True), (("10.0.0.0/8",), False)):
        settings = settings_factory(server={"playground": True, "trusted_proxies": trusted},
                                    api={"keys": (f"ci:{digest}",)})
        server, _ = await start_app(settings)
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    f"http://127.0.0.1:{server.port}/playground/api/session",
                    json={"key": API_KEY}, headers={"X-Forwarded-Proto": "https"}) as resp:
                assert resp.status == 200
                assert ("Secure" in resp.headers["Set-Cookie"]) is secure
        finally:
            await server.close()


async def test_minted_urls_use_the_public_base_not_the_host_header(  # type: ignore[no-untyped-def]
        settings_factory) -> None:
    settings = settings_factory(server={"playground": True,
                                        "public_base_url": "https://img.example.com"})
    server, _ = await start_app(settings)
    body = {"template": "social-card", "variables": {"name": "Ada"}, "output": {}}
    try:
        async with aiohttp.ClientSession() as session, session.post(
                f"http://127.0.0.1:{server.port}/playground/api/sign", json=body,
                headers={"Host": "evil.example"}) as resp:
            signed = await resp.json()
    finally:
        await server.close()
    assert signed["url"].startswith("https://img.example.com/i/")
    assert "evil.example" not in json.dumps(signed)


async def test_sign_returns_urls_and_snippets(settings_factory) -> None:  # type: ignore[no-untyped-def]
    server, _ = await start_app(settings_factory(server={"playground": True}))
    base = f"http://127.0.0.1:{server.port}"
    body = {"template": "social-card", "variables": {"name": "Ada", "badge": ""},
            "output": {"format": "webp", "width": 600, "dpr": 1}}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base + "/playground/api/sign", json=body) as resp:
                assert resp.status == 200
                signed = await resp.json()
            async with session.get(signed["url"]) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"] == "image/webp"
            bad = {**body, "variables": {"name": "x" * 81}}
            async with session.post(base + "/playground/api/sign", json=bad) as resp:
                assert resp.status == 400 and (await resp.json())["field"] == "name"
    finally:
        await server.close()
    assert "badge=" not in signed["url"]
    assert signed["srcset"].endswith(" 2x") and " 1x, " in signed["srcset"]
    assert 'width="600" height="315"' in signed["img_snippet"]
    assert "/social-card.png?" in signed["email_snippet"]      # webp is not email-safe
    assert 'alt="Ada' in signed["email_snippet"]
    assert signed["curl"].startswith("curl ") and "/v1/render" in signed["curl"]


async def test_template_edit_changes_the_listed_version(tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        settings_factory) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    settings = settings_factory(server={"playground": True},
                                templates={"dir": str(folder), "reload": True})
    server, _ = await start_app(settings)
    url = f"http://127.0.0.1:{server.port}/playground/api/templates"

    async def version() -> str:
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            listed = await resp.json()
        return str(next(t["version"] for t in listed["templates"] if t["name"] == "social-card"))

    try:
        before = await version()
        path = folder / "social-card.toml"
        path.write_text(path.read_text().replace('default = "Friend"', 'default = "Pal"'))
        deadline = time.monotonic() + 5
        after = before
        while after == before and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            after = await version()
        assert after != before
    finally:
        await server.close()


async def test_templates_list_their_layers_and_a_photo_signs_with_its_box(  # type: ignore[no-untyped-def]
        settings_factory) -> None:
    server, _ = await start_app(settings_factory(server={"playground": True}))
    base = f"http://127.0.0.1:{server.port}"
    body = {"template": "photo", "variables": {"src": "https://photos.example/a.jpg"},
            "output": {"format": "webp", "width": 600, "height": 400, "explain": True}}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/playground/api/templates") as resp:
                listed = {t["name"]: t for t in (await resp.json())["templates"]}
            async with session.post(base + "/playground/api/sign", json=body) as resp:
                assert resp.status == 200
                signed = await resp.json()
    finally:
        await server.close()
    card = listed["social-card"]["layers"]
    group = next(layer for layer in card if layer["type"] == "group")
    assert [child["type"] for child in group["children"]] == ["text", "text", "group"]
    assert group["children"][2]["when"] == "badge"
    assert listed["photo"]["follow"] is True
    assert "h=400" in signed["url"] and "w=600" in signed["url"]
    assert "debug=1" in signed["preview"]
    assert 'width="600" height="400"' in signed["img_snippet"]


@pytest.mark.parametrize(("output", "field"), [
    ({"width": 9000}, "w"), ({"width": "wide"}, "w"), ({"dpr": 9}, "dpr"),
    ({"dpr": 0.5}, "dpr"), ({"format": "bmp"}, "fmt"), ({"format": "auto"}, "fmt"),
])
async def test_sign_refuses_output_the_image_url_would_refuse_with_its_message(
        settings_factory, output: dict[str, object], field: str) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(server={"playground": True})
    server, _ = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    body = {"template": "social-card", "variables": {"name": "Ada"}, "output": output}
    try:
        async with aiohttp.ClientSession() as session, session.post(
                base + "/playground/api/sign", json=body) as resp:
            assert resp.status == 400
            refused = await resp.json()
    finally:
        await server.close()
    template = Registry(ROOT / "templates").get("social-card")
    options = {"w": output.get("width"), "dpr": output.get("dpr")}
    with pytest.raises(ProxyError) as builder:
        spec = build(template, {"name": "Ada"}, options, str(output.get("format", "png")),
                     settings.limits).spec
        check_format(template, spec.fmt)    # the playground's own rule: `auto` is no format
    assert (refused["field"], refused["error"]) == (field, builder.value.public)


async def test_sign_names_jpeg_for_jpg(settings_factory) -> None:  # type: ignore[no-untyped-def]
    server, _ = await start_app(settings_factory(server={"playground": True}))
    body = {"template": "social-card", "variables": {"name": "Ada"},
            "output": {"format": "jpg", "dpr": 2.0}}
    try:
        async with aiohttp.ClientSession() as session, session.post(
                f"http://127.0.0.1:{server.port}/playground/api/sign", json=body) as resp:
            signed = await resp.json()
    finally:
        await server.close()
    assert "/social-card.jpeg?dpr=2&" in signed["url"] and signed["format"] == "jpeg"
