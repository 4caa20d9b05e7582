"""The playground in headless Chromium: type a name, the preview follows, the URL is real.

Drives Debian's /usr/bin/chromium through Playwright's Python package (no browser download).
Skipped with a reason when either is missing, unless CI is set: then it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from proxy.config import Settings
from proxy.render import RenderJob, render
from proxy.spec import parse_request
from proxy.template.values import coerce
from proxy.web.freshness import etag
from proxy.web.http import cache_key
from proxy.web.keys import REGISTRY, SETTINGS

CHROMIUM = os.environ.get("PICSTREAM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None  # type: ignore[assignment]

_missing = [what for what, ok in (("playwright (pip install playwright)", async_playwright),
                                  (CHROMIUM, shutil.which(CHROMIUM))) if not ok]
if _missing and not os.environ.get("CI"):
    pytest.skip(f"browser test needs {' and '.join(_missing)}", allow_module_level=True)


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(server={"playground": True})


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PICSTREAM_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _preview_shows(page: Page, fragment: str) -> None:
    await page.wait_for_function(
        """(fragment) => {
             const img = document.querySelector('#preview-img');
             return img.dataset.state === 'loaded' && (img.dataset.url || '').includes(fragment)
                    && img.naturalWidth > 0;
           }""", arg=fragment, timeout=TIMEOUT_MS)


async def _drive(page: Page, base: str) -> str:
    """Open the playground, pick social-card, type a name; return the signed URL shown."""
    await page.goto(base + "/playground")
    await _preview_shows(page, "/i/")
    await page.select_option("#template", "social-card")
    await _preview_shows(page, "/social-card.")
    name = page.locator("#var-name")
    await name.fill("")
    # Typed key by key: each keystroke restarts the debounce; only the last request shows.
    await name.press_sequentially("Ada Lovelace", delay=15)
    await _preview_shows(page, "name=Ada%20Lovelace")
    url = await page.input_value("#signed-url")
    assert "name=Ada%20Lovelace" in url
    assert await page.input_value("#img-snippet") != ""
    assert 'alt="' in await page.input_value("#email-snippet")
    assert "/v1/render" in await page.input_value("#curl")
    return url


async def _keyboard_and_width(page: Page) -> None:
    """Fields are reached with Tab from the template picker, and nothing overflows 360 px."""
    await page.focus("#template")
    for _ in range(4):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "var-name":
            break
    assert await page.evaluate("document.activeElement.id") == "var-name"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360


async def _fresh_render(app: Any, url: str) -> tuple[bytes, str]:
    """Bytes and ETag of the same request rendered directly, outside the server's caches."""
    parts = urlsplit(url)
    template_name, fmt = parts.path.rsplit("/", 1)[1].split(".")
    settings = app[SETTINGS]
    spec = parse_request(template_name, fmt, parse_qsl(parts.query, keep_blank_values=True), 0,
                         settings.limits)
    template = app[REGISTRY].get(spec.template)
    fixed = spec.fixed_format or fmt
    rendered = render(RenderJob(template=template, values=coerce(template, dict(spec.variables)),
                                output=spec.output_options(fixed)))
    return rendered.data, etag(cache_key(spec.canonical(), template.version, fixed))


async def test_typing_a_name_updates_the_preview_and_the_url_serves_it(
        live: tuple[str, Any], artifacts: Path) -> None:
    base, app = live
    assert async_playwright is not None, "playwright is not installed (CI is set)"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 360, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            url = await _drive(page, base)
            await _keyboard_and_width(page)
            assert errors == []
        except Exception:
            shot = artifacts / "playground-failure.png"
            await page.screenshot(path=str(shot), full_page=True)
            print(f"playground screenshot: {shot}")
            raise
        finally:
            await browser.close()
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        served, served_etag = await resp.read(), resp.headers["ETag"]
    expected, expected_etag = await _fresh_render(app, url)
    assert served_etag == expected_etag
    assert served == expected
