"""The `picstream` command: render, sign, templates, assets, keygen, exit codes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyvips

from tests.conftest import ROOT, TEST_KEYS

FIXTURES = ROOT / "tests" / "fixtures" / "templates"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
        ) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "proxy", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=60)


def test_render_writes_the_image(tmp_path: Path) -> None:
    out = tmp_path / "card.webp"
    result = run("render", "social-card", "name=Ada Lovelace", "-o", str(out), "--width", "600",
                 "--dpr", "2")
    assert result.returncode == 0, result.stderr
    image = pyvips.Image.new_from_file(str(out))
    assert (image.width, image.height) == (1200, 630)
    assert image.get("vips-loader").startswith("webp")


def test_render_bad_value_names_it_and_exits_3(tmp_path: Path) -> None:
    result = run("render", "social-card", "accent=blurple", "-o", str(tmp_path / "x.png"))
    assert result.returncode == 3
    assert "accent" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_sign_prints_a_url_the_server_accepts() -> None:
    env = {"PICSTREAM_SIGNING_KEYS": ",".join(TEST_KEYS)}
    result = run("sign", "social-card", "name=John Smith", "--format", "jpeg", "--width", "600",
                 "--pin", "--base-url", "https://img.example.com", env=env)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://img.example.com/i/") and "name=John%20Smith" in url
    assert "&v=" in url and "w=600" in url


def test_templates_lists_variables() -> None:
    result = run("templates")
    assert result.returncode == 0
    assert "social-card  1200x630" in result.stdout and "productColor" in result.stdout


def test_assets_add_then_render_with_it(tmp_path: Path) -> None:
    env = {"PICSTREAM_SOURCES_DATA_DIR": str(tmp_path / "data"),
           "PICSTREAM_TEMPLATES_DIR": str(FIXTURES)}
    result = run("assets", "add", str(FIXTURES / "art" / "photo.jpg"), env=env)
    assert result.returncode == 0, result.stderr
    asset = result.stdout.split()[0]
    assert asset.startswith("asset:") and len(asset) == 6 + 32
    again = run("assets", "add", str(FIXTURES / "art" / "photo.jpg"), env=env)
    assert again.stdout.split()[0] == asset  # idempotent: same bytes, same id
    out = tmp_path / "photo.png"
    result = run("render", "photo", f"photo={asset}", "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    pixel = pyvips.Image.new_from_file(str(out))(100, 150)
    assert pixel[:3] != [255, 255, 255]


def test_assets_add_refuses_a_non_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("<html>")
    result = run("assets", "add", str(bad), env={"PICSTREAM_SOURCES_DATA_DIR": str(tmp_path)})
    assert result.returncode == 3 and "not an image" in result.stderr


def test_keygen_prints_a_usable_key() -> None:
    result = run("keygen")
    assert result.returncode == 0 and len(result.stdout.strip()) >= 40
    api = run("keygen", "--api", "--name", "ci")
    assert api.returncode == 0 and 'keys = ["ci:' in api.stderr


def test_sign_dev_uses_the_dev_servers_key(tmp_path: Path) -> None:
    env = {"PICSTREAM_SOURCES_DATA_DIR": str(tmp_path / "data")}
    first = run("sign", "--dev", "social-card", "name=Ada", env=env)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "data" / "dev-signing-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = run("sign", "--dev", "social-card", "name=Ada", env=env)
    assert again.stdout == first.stdout
    # and that key is what `serve --dev` verifies with
    from proxy.config import load_settings
    from proxy.urls import sign_url

    key = key_file.read_text().strip()
    assert first.stdout.strip().endswith(sign_url("social-card", {"name": "Ada"}, keys=[key]))
    assert load_settings(environ={}).signing.keys == ()


def test_render_to_an_unknown_extension_is_a_usage_error(tmp_path: Path) -> None:
    result = run("render", "social-card", "-o", str(tmp_path / "x.bmp"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and ".bmp" in result.stderr
    assert "--format" in result.stderr
    assert not (tmp_path / "x.bmp").exists()


def test_templates_shows_values_as_written(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder, ignore=shutil.ignore_patterns("fonts"))
    (folder / "numbers.toml").write_text(
        'size = [100, 100]\n[variables.count]\ntype = "number"\ndefault = 3\nmin = 1\nmax = 10\n'
        '[variables.tint]\ntype = "color"\ndefault = "#222"\n')
    result = run("templates", env={"PICSTREAM_TEMPLATES_DIR": str(folder)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "default #222222" in out and "(34, 34, 34, 255)" not in out
    assert "default 3\n" in out and "range 1..10" in out and "3.0" not in out
    avatar = next(line for line in out.splitlines() if line.strip().startswith("avatar"))
    assert "required" not in avatar and "fallback art/avatar-placeholder.png" in avatar
    listing = json.loads(run("templates", "--json",
                             env={"PICSTREAM_TEMPLATES_DIR": str(folder)}).stdout)
    card = next(t for t in listing if t["name"] == "social-card")
    assert next(v for v in card["variables"] if v["name"] == "avatar")["required"] is False
    numbers = next(t for t in listing if t["name"] == "numbers")["variables"]
    assert numbers[0]["default"] == 3 and isinstance(numbers[0]["default"], int)
    assert numbers[1]["default"] == "#222222"


def test_serve_on_a_busy_port_says_so_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port),
                     env={"PICSTREAM_SIGNING_KEYS": TEST_KEYS[0],
                          "PICSTREAM_SOURCES_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "PicStream on" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "server.port" in result.stderr


def test_serve_dev_says_where_the_playground_is(tmp_path: Path) -> None:
    from proxy.config import load_settings, replace
    from tests.support.servers import ProcessServer

    settings = replace(load_settings(environ={}), server={"port": 0},   # 0: a free port
                       sources={"data_dir": str(tmp_path / "data")})
    server = ProcessServer(settings, args=("--dev",))
    try:
        with urllib.request.urlopen(server.url + "/playground", timeout=10) as resp:
            assert resp.status == 200
    finally:
        server.stop()
    assert f"Playground: {server.url}/playground" in server.log.read_text()
