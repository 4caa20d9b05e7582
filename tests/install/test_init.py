"""`picstream init DIR`, then the two commands it prints, then a signed URL through nginx."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.nginx.test_nginx import nginx_binary
from tests.support.procs import background, clean_env, run
from tests.support.servers import free_port

BIN = Path(sys.executable).parent  # where the `picstream` console script is


def _env() -> dict[str, str]:
    return clean_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def _init(tmp_path: Path, port: int, nginx_port: int) -> tuple[Path, str]:
    project = tmp_path / "my images"          # a space: the printed commands must quote it
    out = run([str(BIN / "picstream"), "init", str(project), "--port", str(port),
               "--nginx-port", str(nginx_port)], cwd=tmp_path, env=_env()).stdout
    return project, out


def test_init_then_the_two_printed_commands_serve_a_signed_url(tmp_path: Path) -> None:
    nginx_binary()  # skip (or fail in CI) without nginx
    port, nginx_port = free_port(), free_port()
    project, out = _init(tmp_path, port, nginx_port)
    commands = re.findall(r"^  (cd .+)$", out.split("Run these two commands")[1].split(
        "Then")[0], flags=re.M)
    assert len(commands) == 2, out
    sign = re.search(r"^  (cd .+ picstream sign .+)$", out, flags=re.M)
    assert sign is not None, out
    api_key = re.search(r"API key \(shown once.*\): (\S+)", out)
    assert api_key is not None

    server = f"http://127.0.0.1:{port}"
    public = f"http://127.0.0.1:{nginx_port}"
    env = _env()
    with background(commands[0], tmp_path, tmp_path / "serve.log",
                    ready_url=server + "/healthz", env=env), \
            background(commands[1], tmp_path, tmp_path / "nginx.log",
                       ready_url=public + "/healthz", env=env):
        url = run(["sh", "-c", sign.group(1)], cwd=tmp_path, env=env).stdout.strip()
        assert url.startswith(public + "/i/") and "/example.png?" in url
        statuses = []
        for _ in range(2):
            with urllib.request.urlopen(url, timeout=30) as resp:
                statuses.append(resp.headers.get("X-Cache-Status"))
                assert resp.status == 200 and resp.headers["Content-Type"] == "image/png"
                assert resp.read().startswith(b"\x89PNG")
        assert statuses[1] == "HIT"
        # The printed API key is the one whose hash picstream.toml holds.
        request = urllib.request.Request(
            public + "/v1/render", data=json.dumps({"template": "example"}).encode(),
            headers={"Authorization": f"Bearer {api_key.group(1)}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 200
        # doctor, run where the project lives, finds nothing wrong.
        doctor = subprocess.run([str(BIN / "picstream"), "doctor"], cwd=project, env=env,
                                capture_output=True, text=True, timeout=120)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "FAIL" not in doctor.stdout and "WARN" not in doctor.stdout, doctor.stdout
        assert "cache HIT" in doctor.stdout


def test_init_keeps_keys_private_and_out_of_git(tmp_path: Path) -> None:
    project, _ = _init(tmp_path, 18080, 18000)
    config = project / "picstream.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "/picstream.toml" in (project / ".gitignore").read_text().splitlines()
    assert sorted(p.name for p in (project / "templates").iterdir()) == ["example.toml"]
    # Two projects never share a key.
    (tmp_path / "second").mkdir()
    other, _ = _init(tmp_path / "second", 18080, 18000)
    key = re.compile(r'^keys = \["(.+)"\]$', re.M)
    assert key.findall(config.read_text()) != key.findall((other / "picstream.toml").read_text())


def test_init_refuses_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = subprocess.run([str(BIN / "picstream"), "init", str(tmp_path / "taken")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "not an empty folder" in result.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_rendered_nginx_conf_has_no_unfilled_variable(tmp_path: Path) -> None:
    project, _ = _init(tmp_path, 18081, 18001)
    conf = (project / "nginx.conf").read_text()
    assert "${PICSTREAM" not in conf
    assert "server 127.0.0.1:18081;" in conf and "listen 127.0.0.1:18001" in conf


def test_readme_first_screen_is_install_init_serve_sign_as_init_prints(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:60])
    steps = ["pip install", "picstream init", "picstream serve", "picstream sign",
             "make serve", "make test"]
    where = [first_screen.find(step) for step in steps]
    assert -1 not in where and where == sorted(where), dict(zip(steps, where, strict=True))
    _, out = _init(tmp_path, 8080, 8000)
    for command in re.findall(r"^  cd \S+ && (.+)$", out, flags=re.M):
        if "sign" not in command:
            assert command in first_screen, command


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    import shutil

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    project, _ = _init(tmp_path, 18082, 18002)
    unit = project / "picstream.service"
    text = unit.read_text()
    assert f"WorkingDirectory={project}" in text
    assert f'ExecStart="{BIN / "picstream"}" serve' in text
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    # The check can fail: a unit whose command is missing does not verify.
    broken = tmp_path / "broken.service"
    broken.write_text(text.replace(str(BIN / "picstream"), str(tmp_path / "missing")))
    assert subprocess.run([analyze, "verify", str(broken)], capture_output=True,
                          timeout=60).returncode != 0
