"""One image, one URL: other spellings of a signed URL redirect to the canonical one."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from yarl import URL

from proxy.urls import yarl_spelling
from proxy.web.keys import SERVICE
from tests.support.spellings import SPELLINGS, canonical_path, jpg_and_jpeg_paths


async def get(url: str) -> tuple[int, dict[str, str]]:
    """GET exactly these bytes (yarl would otherwise re-spell the URL) without following."""
    async with aiohttp.ClientSession() as session, \
            session.get(URL(url, encoded=True), allow_redirects=False) as resp:
        await resp.read()
        return resp.status, dict(resp.headers)


def test_the_table_has_ten_kinds_and_each_changes_the_url() -> None:
    path = canonical_path()
    assert len(SPELLINGS) >= 10
    variants = {spell(path) for spell in SPELLINGS.values()}
    assert path not in variants and len(variants) == len(SPELLINGS)


@pytest.mark.parametrize("spell", SPELLINGS.values(), ids=SPELLINGS.keys())
async def test_non_canonical_spelling_redirects_to_the_canonical_url(
        live, spell: Callable[[str], str]) -> None:  # type: ignore[no-untyped-def]
    base, app = live
    path = canonical_path()
    status, headers = await get(base + spell(path))
    if status == 400:        # refusing a spelling is allowed; a 200 or a 403 is not
        assert headers["Cache-Control"] == "no-store"
        return
    assert status == 301, (status, headers)
    assert headers["Location"] == path
    assert headers["Cache-Control"] == "no-store"
    assert (await get(base + path))[0] == 200
    assert set(app[SERVICE].known_urls) == {path}   # the index holds the canonical form only


async def test_canonical_url_is_a_200_not_a_redirect(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    status, headers = await get(base + canonical_path())
    assert status == 200 and "immutable" not in headers["Cache-Control"]


async def test_the_spelling_aiohttp_clients_send_is_served_without_a_redirect_loop(
        live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    path = canonical_path()
    assert yarl_spelling(path) != path and "(" in yarl_spelling(path)
    assert (await get(base + yarl_spelling(path)))[0] == 200
    async with aiohttp.ClientSession() as session, session.get(base + path) as resp:
        assert resp.status == 200 and not resp.history


async def test_a_url_signed_as_jpg_redirects_to_its_one_jpeg_url(
        live) -> None:  # type: ignore[no-untyped-def]
    base, app = live
    legacy, canonical = jpg_and_jpeg_paths()
    assert ".jpg?" in legacy and ".jpeg?" in canonical
    assert legacy.split("/")[2] != canonical.split("/")[2]      # signed anew for `.jpeg`
    status, headers = await get(base + legacy)
    assert status == 301 and headers["Location"] == canonical
    assert headers["Cache-Control"] == "no-store"
    status, headers = await get(base + canonical)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert set(app[SERVICE].known_urls) == {canonical}


async def test_a_tampered_jpg_url_is_403_not_a_redirect(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    legacy, _ = jpg_and_jpeg_paths()
    status, headers = await get(base + legacy.replace("Yann", "Jann"))
    assert status == 403 and "Location" not in headers
