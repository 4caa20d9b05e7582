"""The built wheel works anywhere: installed into a clean venv outside the repository, it
serves the shipped templates from an empty directory and a signed URL renders."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

import pytest

from tests.support.procs import background, clean_env, run
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build`: the sdist, then the wheel built from it (as CI and PyPI do)."""
    if subprocess.run([sys.executable, "-m", "build", "--version"],
                      capture_output=True).returncode != 0:
        pytest.skip("the `build` package is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repository with only the wheel (and its dependencies)."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home / "venv", with_pip=True)
    wheel = next(dist.glob("picstream-*.whl"))
    # pip's cache (filled by `make install`) keeps this to a few seconds offline-ish.
    run([str(home / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        cwd=home)
    return home / "venv" / "bin"


def test_sdist_carries_the_shipped_folders(dist: Path) -> None:
    import tarfile

    sdist = next(dist.glob("picstream-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for shipped in ("templates/social-card.toml", "templates/fonts/fonts.conf",
                    "config/default.toml", "setup.py"):
        assert shipped in names


def test_wheel_imports_nothing_from_the_repository(installed: Path, tmp_path: Path) -> None:
    out = run([str(installed / "python"), "-c",
               "import proxy, proxy.shipped as s; print(proxy.__file__); "
               "print(s.SHIPPED_TEMPLATES); print(s.DEFAULT_CONFIG)"], cwd=tmp_path).stdout
    package, templates, config = out.split()
    for path in (package, templates, config):
        assert "site-packages" in path and not path.startswith(str(ROOT))
    assert Path(templates, "social-card.toml").is_file()
    assert Path(templates, "fonts", "Inter-Bold.otf").is_file()


def test_wheel_serves_shipped_templates_from_an_empty_directory(installed: Path,
                                                                tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env()
    listed = run([str(installed / "picstream"), "templates"], cwd=work, env=env).stdout
    assert {"social-card", "email-header", "product-mockup-v2"} <= {
        line.split()[0] for line in listed.splitlines() if line and not line[0].isspace()}
    with background([str(installed / "picstream"), "serve", "--dev", "--port", str(port)],
                    cwd=work, log=tmp_path / "serve.log", ready_url=base + "/healthz", env=env):
        url = run([str(installed / "picstream"), "sign", "--dev", "--base-url", base,
                   "social-card", "name=Ada Lovelace", "--format", "png"],
                  cwd=work, env=env).stdout.strip()
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "image/png"
    assert body.startswith(b"\x89PNG")
    import pyvips

    image = pyvips.Image.new_from_buffer(body, "")
    assert (image.width, image.height) == (1200, 630)
    # Same pixels as the clone renders: the wheel found the shipped fonts and art.
    run([sys.executable, "-m", "proxy", "render", "social-card", "name=Ada Lovelace",
         "-o", str(tmp_path / "clone.png")], cwd=ROOT)
    clone = pyvips.Image.new_from_file(str(tmp_path / "clone.png"))
    assert (image - clone).abs().max() == 0
    # The server wrote its development key in the working directory, nothing else.
    assert sorted(p.name for p in work.iterdir()) == ["data"]
    shutil.rmtree(work)


def test_wheel_init_renders_the_shipped_nginx_conf(installed: Path, tmp_path: Path) -> None:
    run([str(installed / "picstream"), "init", "proj"], cwd=tmp_path)
    conf = (tmp_path / "proj" / "nginx.conf").read_text()
    assert "proxy_cache_path .nginx/images" in conf and "${" not in conf
    assert (tmp_path / "proj" / "templates" / "example.toml").is_file()
    assert f'ExecStart="{installed / "picstream"}" serve' in (
        tmp_path / "proj" / "picstream.service").read_text()
