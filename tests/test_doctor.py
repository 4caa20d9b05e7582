"""`picstream doctor` says what is wrong in plain words, and exits 1 when something is."""

from __future__ import annotations

import email.utils
import subprocess
import sys
from pathlib import Path

from proxy.doctor import clock_findings, run_checks
from tests.conftest import ROOT, TEST_KEYS
from tests.support.procs import clean_env
from tests.support.servers import free_port

NOW = 1_800_000_000.0


def _doctor(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy", "-c", str(config), "doctor"],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=120)


def test_public_test_key_unsafe_mode_and_no_server_are_failures(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f'[server]\nport = {free_port()}\n'
                      f'[signing]\nkeys = ["{TEST_KEYS[0]}"]\nallow_unsafe = true\n')
    config.chmod(0o644)
    result = _doctor(config)
    assert result.returncode == 1
    out = result.stdout
    assert "the test key from the docs" in out
    assert "signing.allow_unsafe is on" in out
    assert "other users can read it: chmod 600" in out
    assert "no API key" in out
    assert "is `picstream serve` running with this config?" in out
    assert "OK    fonts" in out and "OK    templates" in out


def test_a_config_error_is_reported_not_raised(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[server]\nprot = 8080\n")
    result = _doctor(config)
    assert result.returncode == 1
    assert "unknown setting server.prot" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_broken_template_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "card.toml").write_text('size = [100, 100]\n[[layers]]\ntype = "text"\n'
                                      'box = [0, 0, 50, 50]\ntext = "hi"\nfont = "Comic Sans"\n')
    findings = run_checks([], {"PICSTREAM_TEMPLATES_DIR": str(folder),
                               "PICSTREAM_SIGNING_KEYS": "k" * 43,
                               "PICSTREAM_SERVER_PORT": str(free_port())}, now=lambda: NOW)
    bad = [f for f in findings if f.topic == "templates"]
    assert bad and bad[0].level == "fail" and "Comic Sans" in bad[0].message


def test_clock_skew_thresholds() -> None:
    def at(offset_s: float) -> str:
        return email.utils.formatdate(NOW - offset_s, usegmt=True)

    assert clock_findings(at(2), NOW)[0].level == "ok"
    warn = clock_findings(at(30), NOW)[0]
    assert warn.level == "warn" and "30 s ahead of the server" in warn.message
    assert clock_findings(at(-600), NOW)[0].level == "fail"
    assert clock_findings(None, 0.0)[0].level == "fail"       # 1970: the clock was never set
    assert clock_findings(None, NOW)[0].level == "ok"
