"""One broken template never takes the others down (issue #12): the registry keeps the good
ones, says what is wrong (CLI warning, log line, /readyz, a 503 naming it) and the rest serve."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import pyvips

from proxy.config import Settings, replace
from proxy.errors import BrokenTemplate, NotFound, TemplateError
from proxy.template.registry import Registry
from proxy.urls import sign_url
from tests.conftest import ROOT, TEST_KEYS
from tests.support.servers import ProcessServer, start_app

BROKEN = 'size = [100, 100]\n[[layers]]\ntype = "text"\nbox = [0, 0, 10, 10]\ntext = "{nope}"\n'


def _templates(tmp_path: Path, broken: str | None = BROKEN) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "templates" / "email-header.toml", folder)
    shutil.copytree(ROOT / "templates" / "art", folder / "art")
    if broken is not None:
        (folder / "aaa-broken.toml").write_text(broken)
    return folder


def test_registry_keeps_the_good_templates_and_names_the_bad_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="picstream.templates"):
        registry = Registry(_templates(tmp_path))
    assert registry.names() == ["email-header"]
    assert "undefined variable {nope}" in registry.errors["aaa-broken"]
    assert any("aaa-broken" in r.getMessage() and "{nope}" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(BrokenTemplate) as info:
        registry.get("aaa-broken")
    assert info.value.status == 503 and "{nope}" not in info.value.public   # reason: log only
    with pytest.raises(NotFound):
        registry.get("no-such-template")
    with pytest.raises(TemplateError):
        Registry(_templates(tmp_path / "strict"), strict=True)


def test_malformed_toml_beside_the_shipped_ones(tmp_path: Path) -> None:
    registry = Registry(_templates(tmp_path, broken="size = [\n"))
    assert registry.get("email-header").name == "email-header"
    assert "invalid TOML" in registry.errors["aaa-broken"]


def test_cli_render_warns_and_renders_the_good_one(tmp_path: Path) -> None:
    folder = _templates(tmp_path, broken="size = [\n")
    out = tmp_path / "x.png"
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "render", "email-header", "name=Ada", "-o", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PICSTREAM_TEMPLATES_DIR": str(folder)})
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "aaa-broken.toml" in result.stderr
    assert pyvips.Image.new_from_file(str(out)).width == 600


async def test_dev_reload_reports_a_new_broken_template(
        tmp_path: Path, settings: Settings) -> None:
    folder = _templates(tmp_path, broken=None)
    settings = replace(settings, templates={"dir": str(folder), "reload": True},
                       server={"playground": True})
    server, _app = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    try:
        (folder / "fresh.toml").write_text(BROKEN)
        time.sleep(0.6)  # past the registry's poll interval
        url = sign_url("fresh", {}, keys=TEST_KEYS, fmt="png", base_url=base)
        good = sign_url("email-header", {}, keys=TEST_KEYS, fmt="png", base_url=base)
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers={"Accept": "application/json"}) as resp:
                body = await resp.json()
                assert resp.status == 503, body
                assert body["code"] == "broken_template"
                assert "fresh.toml" in body["error"] and "{nope}" in body["error"]
            async with session.get(good) as resp:
                assert resp.status == 200
            async with session.get(f"{base}/readyz") as resp:
                ready = await resp.json()
                assert "{nope}" in ready["template_errors"]["fresh"]
            async with session.get(f"{base}/playground/api/templates") as resp:
                listing = await resp.json()
                assert "{nope}" in listing["errors"]["fresh"]
    finally:
        await server.close()


def test_serve_starts_with_a_broken_template_and_serves_the_rest(
        tmp_path: Path, settings: Settings) -> None:
    folder = _templates(tmp_path)
    settings = replace(settings, templates={"dir": str(folder)}, server={"log_format": "json"})
    server = ProcessServer(settings)
    try:
        url = sign_url("email-header", {}, keys=TEST_KEYS, fmt="png", base_url=server.url)
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
    finally:
        server.stop()
    log = server.log.read_text()
    assert "warning" in log and "aaa-broken.toml" in log
    assert '"template aaa-broken does not load' in log or "aaa-broken does not load" in log
