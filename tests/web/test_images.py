"""GET /i/...: signed URLs through a real server on a real port."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
import pyvips
from multidict import CIMultiDict
from yarl import URL

from proxy.config import replace
from proxy.urls import sign_url
from proxy.web.keys import SERVICE
from tests.conftest import ROOT, TEST_KEYS
from tests.support.servers import start_app


async def get(url: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


def sign(base: str, template: str = "social-card", fmt: str = "png", **kw: object) -> str:
    variables = kw.pop("variables", {"name": "Ann Lee"})
    return sign_url(template, variables, keys=TEST_KEYS, fmt=fmt, base_url=base,  # type: ignore[arg-type]
                    **kw)  # type: ignore[arg-type]


async def test_sign_then_get_gives_the_image(live, golden) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, headers, body = await get(sign(base, variables={"name": "Ann Lee", "badge": "Pro"}))
    assert status == 200
    assert headers["Content-Type"] == "image/png"
    assert int(headers["Content-Length"]) == len(body)
    image = pyvips.Image.new_from_buffer(body, "")
    assert (image.width, image.height) == (1200, 630)
    golden(body, "social-card-ann", fmt="png")


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif", "gif", "jpg"])
async def test_each_format_has_its_content_type(live, fmt: str) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, headers, body = await get(sign(base, "email-header", fmt=fmt, width=300))
    assert status == 200, body
    expected = {"jpg": "jpeg", "avif": "avif"}.get(fmt, fmt)
    assert headers["Content-Type"] == f"image/{expected}"
    assert pyvips.Image.new_from_buffer(body, "").width == 300


def _tampered(url: str) -> list[str]:
    """Every URL that differs from `url` by one changed character of the path after the sig."""
    head, _, rest = url.partition("/i/")
    sig, _, tail = rest.partition("/")
    out = []
    for i, ch in enumerate(tail):
        if ch in "?&=%/.":
            continue
        repl = "b" if ch != "b" else "c"
        out.append(f"{head}/i/{sig}/{tail[:i]}{repl}{tail[i + 1:]}")
    return out


async def test_tampering_any_byte_is_403(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign(base, variables={"name": "Ann", "title": "CTO", "accent": "#ff5733"}, width=600)
    assert (await get(url))[0] == 200
    codes = {}
    for bad in _tampered(url):
        status, _, body = await get(bad)
        codes[bad] = status
    # the signature is checked before any value is parsed: an unsigned URL learns nothing
    assert set(codes.values()) == {403}, {u: c for u, c in codes.items() if c != 403}
    # a different format is a different signed URL
    assert (await get(url.replace("social-card.png", "social-card.jpeg")))[0] == 403


async def test_other_spellings_of_a_signature_are_403(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign(base)
    head, _, rest = url.partition("/i/")
    sig, _, tail = rest.partition("/")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    # 43 base64 chars carry 258 bits for a 256-bit MAC: the last char's low 2 bits are free
    variants = [sig + "=", sig + "==", sig.upper(), sig[:-1]]
    variants += [sig[:-1] + alphabet[(last & ~3) | low] for low in range(4)
                 if alphabet[(last & ~3) | low] != sig[-1]]
    for variant in variants:
        assert (await get(f"{head}/i/{variant}/{tail}"))[0] == 403, variant


async def test_rotated_key_verifies_while_listed(settings) -> None:  # type: ignore[no-untyped-def]
    old_only = sign_url("social-card", {"name": "Ann"}, keys=TEST_KEYS[1:], fmt="png")
    server, _ = await start_app(settings)
    try:
        assert (await get(f"http://127.0.0.1:{server.port}{old_only}"))[0] == 200
    finally:
        await server.close()
    server, _ = await start_app(replace(settings, signing={"keys": TEST_KEYS[:1]}))
    try:
        assert (await get(f"http://127.0.0.1:{server.port}{old_only}"))[0] == 403
    finally:
        await server.close()


async def test_plus_for_percent20_verifies_and_redirects_to_the_canonical_url(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign(base, variables={"name": "John Smith"})
    assert "John%20Smith" in url
    for variant in (url.replace("%20", "+"), url.replace("John%20Smith", "John%20Smit%68")):
        async with aiohttp.ClientSession() as session, \
                session.get(URL(variant, encoded=True), allow_redirects=False) as resp:
            assert resp.status == 301, variant
            assert base + resp.headers["Location"] == url


async def test_expired_is_410_and_valid_until_then(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    assert (await get(sign(base, expires=int(time.time()) - 5)))[0] == 410
    assert (await get(sign(base, expires=int(time.time()) + 3600)))[0] == 200


async def test_etag_304_and_second_get_is_a_hit(live) -> None:  # type: ignore[no-untyped-def]
    base, app = live
    url = sign(base, variables={"name": "Etag Test"})
    status, first, body = await get(url)
    assert status == 200 and first["X-Cache"] == "render"
    assert first["ETag"].startswith('"') and not first["ETag"].startswith("W/")
    status, second, body2 = await get(url)
    assert second["X-Cache"] == "memory" and body2 == body and second["ETag"] == first["ETag"]
    renders = app[SERVICE].renders
    status, headers, empty = await get(url, **{"If-None-Match": first["ETag"]})
    assert status == 304 and empty == b"" and headers["ETag"] == first["ETag"]
    assert app[SERVICE].renders == renders
    assert (await get(url, **{"If-None-Match": '"other"'}))[0] == 200


async def test_304_needs_no_render_even_on_a_cold_cache(live) -> None:  # type: ignore[no-untyped-def]
    base, app = live
    url = sign(base, variables={"name": "Cold 304"})
    _, headers, _ = await get(url)
    app[SERVICE].lru = type(app[SERVICE].lru)(1024 * 1024)  # forget everything
    before = app[SERVICE].renders
    status, _, _ = await get(url, **{"If-None-Match": headers["ETag"]})
    assert status == 304 and app[SERVICE].renders == before


async def test_100_concurrent_gets_render_once(live) -> None:  # type: ignore[no-untyped-def]
    base, app = live
    url = sign(base, variables={"name": "Concurrent"}, fmt="webp")
    before = app[SERVICE].renders
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def one() -> bytes:
            async with session.get(url) as resp:
                assert resp.status == 200
                return await resp.read()

        bodies = await asyncio.gather(*(one() for _ in range(100)))
    assert len(set(bodies)) == 1
    assert app[SERVICE].renders - before == 1


async def test_memory_cache_is_bounded_by_bytes(settings_factory) -> None:  # type: ignore[no-untyped-def]
    bound = 200_000
    server, app = await start_app(settings_factory(cache={"memory_max_bytes": bound}))
    try:
        base = f"http://127.0.0.1:{server.port}"
        for i in range(12):
            assert (await get(sign(base, variables={"name": f"N{i}"})))[0] == 200
        lru = app[SERVICE].lru
        assert lru.bytes_used <= bound
        assert lru.evictions > 0 and 0 < len(lru) < 12
    finally:
        await server.close()


async def test_disk_tier_survives_restart_and_corruption(settings_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(cache={"disk_dir": str(tmp_path / "disk")})
    path = sign_url("social-card", {"name": "Disk"}, keys=TEST_KEYS, fmt="png")
    server, app = await start_app(settings)
    try:
        status, headers, body = await get(f"http://127.0.0.1:{server.port}{path}")
        assert headers["X-Cache"] == "render"
    finally:
        await server.close()
    server, app = await start_app(settings)
    try:
        status, headers, again = await get(f"http://127.0.0.1:{server.port}{path}")
        assert headers["X-Cache"] == "disk" and again == body
    finally:
        await server.close()
    for file in (tmp_path / "disk").rglob("*"):
        if file.is_file() and not file.name.startswith("."):
            data = bytearray(file.read_bytes())
            data[-10] ^= 0xFF
            file.write_bytes(bytes(data))
    server, app = await start_app(settings)
    try:
        status, headers, third = await get(f"http://127.0.0.1:{server.port}{path}")
        assert status == 200 and headers["X-Cache"] == "render" and third == body
    finally:
        await server.close()


async def test_template_edit_changes_version_and_output(settings_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    settings = settings_factory(templates={"dir": str(folder), "reload": True})
    server, app = await start_app(settings)
    try:
        base = f"http://127.0.0.1:{server.port}"
        url = sign(base, "email-header")
        _, first, body1 = await get(url)
        path = Path(folder / "email-header.toml")
        path.write_text(path.read_text().replace('default = "#4f46e5"', 'default = "#dc2626"'))
        await asyncio.sleep(0.7)  # the registry polls file stamps every 0.5 s
        _, second, body2 = await get(url)
        assert second["X-Template-Version"] != first["X-Template-Version"]
        assert second["ETag"] != first["ETag"] and body2 != body1
        pixel = pyvips.Image.new_from_buffer(body2, "")(590, 5)
        assert abs(pixel[0] - 0xDC) < 3 and abs(pixel[1] - 0x26) < 3
    finally:
        await server.close()


async def test_cache_control_pinned_vs_unpinned(live) -> None:  # type: ignore[no-untyped-def]
    base, app = live
    from proxy.web.keys import REGISTRY

    version = app[REGISTRY].get("social-card").version
    _, pinned, _ = await get(sign(base, version=version))
    assert pinned["Cache-Control"] == "public, max-age=31536000, immutable"
    _, unpinned, _ = await get(sign(base))
    assert "immutable" not in unpinned["Cache-Control"]
    assert "stale-while-revalidate" in unpinned["Cache-Control"]
    _, stale, _ = await get(sign(base, version="0123456789abcdef"))
    assert "immutable" not in stale["Cache-Control"]
    assert "Vary" not in pinned
    assert pinned["Surrogate-Key"].startswith("tpl-social-card")


@pytest.mark.parametrize(("accept", "fmt"), [
    ("image/avif,image/webp,*/*", "avif"), ("image/webp,*/*;q=0.8", "webp"),
    ("image/avif;q=0,image/webp", "webp"), ("*/*", "jpeg"), ("", "jpeg"),
    ("text/html, image/x-made-up-" + "a" * 300, "jpeg"),
])
async def test_auto_negotiates_a_bucket_and_varies(live, accept: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, headers, body = await get(sign(base, fmt="auto", width=200), Accept=accept)
    assert status == 200
    assert headers["Content-Type"] == f"image/{fmt}"
    assert headers["Vary"] == "Accept"


async def test_head_has_headers_and_no_body(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign(base, variables={"name": "Head"})
    async with aiohttp.ClientSession() as session, session.head(url) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) > 1000
        assert await resp.read() == b""


@pytest.mark.parametrize(("mutate", "status", "code"), [
    (lambda u: u.replace("/social-card.png", "/no-such-card.png"), 403, "bad_signature"),
    (lambda u: sign(u.split("/i/")[0], "no-such-card"), 404, "unknown_template"),
    (lambda u: u.replace(".png", ".bmp"), 403, "bad_signature"),
    (lambda u: u + "&name=Two", 400, "bad_request"),
    (lambda u: u + "&" + "x" * 9000 + "=1", 414, "uri_too_long"),
])
async def test_errors_are_json_and_not_cached(live, mutate, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    got, headers, body = await get(mutate(sign(base)))
    assert got == status, body
    assert headers["Cache-Control"] == "no-store"
    import json

    payload = json.loads(body)
    assert payload["ok"] is False and payload["code"] == code and payload["status"] == status


async def test_bad_value_names_the_variable(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, _, body = await get(sign(base, variables={"name": "A" * 81}))
    assert status == 400 and b'"field": "name"' in body and b"longer than 80" in body
    status, _, body = await get(sign(base, variables={"name": "A", "accent": "blurple"}))
    assert status == 400 and b'"field": "accent"' in body


async def test_unsafe_signature_only_when_allowed(settings_factory) -> None:  # type: ignore[no-untyped-def]
    path = "/i/unsafe/social-card.png?name=" + quote("Dev")
    for allowed, expected in ((False, 403), (True, 200)):
        server, _ = await start_app(settings_factory(signing={"keys": TEST_KEYS,
                                                              "allow_unsafe": allowed}))
        try:
            assert (await get(f"http://127.0.0.1:{server.port}{path}"))[0] == expected
        finally:
            await server.close()


async def test_markup_in_a_name_prints_literally(live, golden) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, _, body = await get(sign(base, variables={"name": "<b>Bold</b> & Co"}))
    assert status == 200
    golden(body, "social-card-markup", fmt="png")


async def test_a_served_url_still_expires(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    url = sign(base, variables={"name": "Soon"}, expires=int(time.time()) + 2)
    assert (await get(url))[0] == 200
    _, headers, _ = await get(url)
    assert headers["X-Cache"] == "memory"  # the known-URL fast path
    await asyncio.sleep(max(0.0, int(time.time()) + 2 - time.time()) + 1.1)
    assert (await get(url))[0] == 410
