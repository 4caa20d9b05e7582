"""The Node.js example signer (examples/sign.js) reproduces every test vector."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIGNER = ROOT / "examples" / "sign.js"
VECTORS = ROOT / "tests" / "vectors" / "signing.json"

# Runs each vector through the example's exported functions and prints what it computed.
RUN_VECTORS = """
const { canonical, signature, signPath } = require(process.argv[1]);
const { vectors } = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
console.log(JSON.stringify(vectors.map((v) => {
  const params = { ...v.variables, ...v.options };
  const c = canonical(v.template, v.fmt, params);
  return { canonical: c, signature: signature(c, v.keys[0]),
           path: signPath(v.template, v.fmt, params, v.keys[0]) };
})));
"""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node signer cannot be checked")
    return node


def test_node_signer_matches_every_vector() -> None:
    result = subprocess.run([_node(), "-e", RUN_VECTORS, "--", str(SIGNER), str(VECTORS)],
                            capture_output=True, text=True, encoding="utf-8", check=True,
                            timeout=30)
    computed = json.loads(result.stdout)
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    assert len(computed) == len(vectors)
    for got, vector in zip(computed, vectors, strict=True):
        assert got == {k: vector[k] for k in ("canonical", "signature", "path")}, vector["name"]


def test_node_signer_command_line() -> None:
    vector = next(v for v in json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
                  if v["name"] == "readme-example")
    args = [f"{k}={v}" for k, v in {**vector["variables"], **vector["options"]}.items()]
    result = subprocess.run([_node(), str(SIGNER), vector["keys"][0],
                             f"{vector['template']}.{vector['fmt']}", *args],
                            capture_output=True, text=True, check=True, timeout=30)
    assert result.stdout.strip() == vector["path"]
