"""Environment-only configuration: docs/operations.md's table names real settings, and
`picstream serve` runs from an empty folder with exactly those variables and no config file."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import urllib.request
from pathlib import Path

from proxy.config import describe
from proxy.urls import sign_url
from tests.conftest import ROOT, TEST_KEYS
from tests.support.procs import background, clean_env
from tests.support.servers import free_port

OPERATIONS = ROOT / "docs" / "operations.md"


def _table() -> dict[str, str]:
    """Variable -> example, from the "Environment only" section's table."""
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Environment only", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(PICSTREAM_[A-Z_]+)` \| `([^`]*)` \|", section, flags=re.M))


def test_every_variable_in_the_table_is_a_setting() -> None:
    table = _table()
    assert len(table) >= 8
    known = {info.env_var for info in describe()}
    assert set(table) <= known, set(table) - known


def test_serve_from_an_empty_folder_with_only_environment_variables(tmp_path: Path) -> None:
    table = _table()
    work = tmp_path / "empty"
    work.mkdir()
    port = free_port()
    api_key = "env-only-api-key-0123456789abcdef"
    fonts = ROOT / "templates" / "fonts"
    # The table's variables with values for this machine; nothing else PICSTREAM_*.
    values = {
        "PICSTREAM_SIGNING_KEYS": ",".join(TEST_KEYS),
        "PICSTREAM_API_KEYS": "app:" + hashlib.sha256(api_key.encode()).hexdigest(),
        "PICSTREAM_SERVER_HOST": "127.0.0.1",
        "PICSTREAM_SERVER_PORT": str(port),
        "PICSTREAM_SERVER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PICSTREAM_TEMPLATES_DIR": str(ROOT / "templates"),
        "PICSTREAM_TEMPLATES_FONTS_DIR": str(fonts),
        "PICSTREAM_SOURCES_DATA_DIR": str(tmp_path / "assets"),
        "PICSTREAM_CACHE_DISK_DIR": str(tmp_path / "disk-cache"),
        "PICSTREAM_SERVER_LOG_FORMAT": "json",
    }
    assert set(values) == set(table), "keep this test's values in step with the docs table"
    base = f"http://127.0.0.1:{port}"
    with background([sys.executable, "-m", "proxy", "serve"], cwd=work,
                    log=tmp_path / "serve.log", ready_url=base + "/healthz",
                    env=clean_env(**values)):
        url = sign_url("email-header", {"name": "Env"}, keys=TEST_KEYS[1:], fmt="png",
                       base_url=base)   # the older key still verifies: the list was read
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/png"
        request = urllib.request.Request(
            base + "/v1/render", data=json.dumps({"template": "email-header"}).encode(),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            minted = json.loads(resp.read())
    assert minted["url"].startswith(base + "/i/")
    assert list(work.iterdir()) == []    # no file written where it ran
    assert (tmp_path / "disk-cache").is_dir()
