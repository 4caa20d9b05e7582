"""The README's webhook verification snippets (Python and Node) accept our signature."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from proxy.batches.webhook import signature, verify

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-docs-0123456789"
BODY = json.dumps({"type": "batch.done", "id": "abc", "name": "Zoë"},
                  ensure_ascii=False).encode()


def snippet(language: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Batch webhooks"):]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found is not None, f"no {language} snippet under 'Batch webhooks'"
    return found.group(1)


def cases() -> list[tuple[str, bytes, bool]]:
    now = int(time.time())
    good = signature(SECRET, now, BODY)
    return [(good, BODY, True),
            (good, BODY + b" ", False),                          # body changed
            (signature("other-secret", now, BODY), BODY, False),
            (signature(SECRET, now - 3600, BODY), BODY, False),  # too old
            ("t=x,v1=00", BODY, False)]


def test_python_snippet_verifies_our_signature() -> None:
    scope: dict[str, object] = {}
    exec(snippet("python"), scope)  # the README's code, as a reader would paste it
    check = scope["verify"]
    assert callable(check)
    fn: Callable[[str, str, bytes], bool] = check  # type: ignore[assignment]
    for header, body, expected in cases():
        assert fn(SECRET, header, body) is expected, header
        assert verify(SECRET, header, body) is expected


def test_node_snippet_verifies_our_signature() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node snippet cannot be checked")
    program = snippet("js") + """
const cases = JSON.parse(process.argv[1]);
const results = cases.map(([h, b]) => verify(process.argv[2], h, Buffer.from(b, "base64")));
console.log(JSON.stringify(results));
"""
    payload = [(h, base64.b64encode(b).decode()) for h, b, _ in cases()]
    result = subprocess.run([node, "-e", program, "--", json.dumps(payload), SECRET],
                            capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(result.stdout) == [expected for _, _, expected in cases()]
