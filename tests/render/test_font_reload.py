"""A font added to templates/fonts/ while the server runs is usable without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pyvips
from fontTools.ttLib import TTFont

from proxy.config import Settings, replace
from proxy.render.vips import fonts_dir
from proxy.urls import sign_url
from tests.conftest import TEST_KEYS
from tests.support.servers import start_app

FAMILY = "Reload Test Sans"
TEMPLATE = """size = [300, 80]
background = "#ffffff"
[[layers]]
type = "text"
box = [10, 10, 280, 60]
text = "Hamburg"
size = 40
color = "#000000"
font = "{font}"
"""


def _renamed_inter_black(path: Path) -> None:
    """Inter Black under another family name: a font fontconfig has never seen."""
    font = TTFont(str(fonts_dir() / "Inter-Black.otf"))
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "")
    font.save(str(path))


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as resp:
        return resp.status, await resp.read()


async def test_font_added_while_running_loads_and_renders(
        tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "uses-new.toml").write_text(TEMPLATE.format(font=FAMILY))
    (folder / "black.toml").write_text(TEMPLATE.format(font="Inter Black"))
    (folder / "regular.toml").write_text(TEMPLATE.format(font="Inter"))
    settings = replace(settings, templates={"dir": str(folder), "reload": True})
    server, app = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    added = fonts_dir() / "ReloadTestSans-Black.otf"
    try:
        async with aiohttp.ClientSession() as session:
            url = sign_url("uses-new", {}, keys=TEST_KEYS, fmt="png", base_url=base)
            status, _ = await _get(session, url)
            assert status == 503        # `font 'Reload Test Sans' is not shipped`
            _renamed_inter_black(added)
            await asyncio.sleep(0.6)    # past the registry's poll interval
            status, body = await _get(session, url)
            assert status == 200, body
            _, black = await _get(session, sign_url("black", {}, keys=TEST_KEYS, fmt="png",
                                                    base_url=base))
            _, regular = await _get(session, sign_url("regular", {}, keys=TEST_KEYS,
                                                      fmt="png", base_url=base))
        new, heavy, light = (pyvips.Image.new_from_buffer(b, "") for b in (body, black, regular))
        # the glyphs are Inter Black's (the renamed file), not a fallback to Inter Regular
        assert (new - heavy).abs().max() == 0
        assert (new - light).abs().max() > 100
    finally:
        added.unlink(missing_ok=True)
        await server.close()
