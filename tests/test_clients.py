"""The URL builders in clients/ sign exactly like the server: every vector, one live render.

Each language runs the same small driver: cases as JSON on stdin, one {canonical, signature,
path} per case as JSON on stdout, computed with the client's public functions only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import TEST_KEYS

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "clients"
VECTORS = json.loads((ROOT / "tests" / "vectors" / "signing.json").read_text(encoding="utf-8"))

PYTHON = """
import json, sys
sys.path.insert(0, sys.argv[1])
from picstream_url import canonical, sign_path, signature
out = []
for c in json.load(sys.stdin):
    form = canonical(c["template"], c["fmt"], c["params"])
    out.append({"canonical": form, "signature": signature(form, c["key"]),
                "path": sign_path(c["template"], c["fmt"], c["params"], c["key"])})
print(json.dumps(out))
"""

NODE = """
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const { canonical, signature, signPath } = await import(pathToFileURL(process.argv[1]).href);
const out = JSON.parse(readFileSync(0, 'utf8')).map((c) => {
  const form = canonical(c.template, c.fmt, c.params);
  return { canonical: form, signature: signature(form, c.key),
           path: signPath(c.template, c.fmt, c.params, c.key) };
});
console.log(JSON.stringify(out));
"""

PHP = """
require $argv[1];
$out = [];
foreach (json_decode(stream_get_contents(STDIN), true) as $c) {
    $params = $c['params'];  // {} decodes to [] with assoc = true
    $form = PicStream::canonical($c['template'], $c['fmt'], $params);
    $out[] = ['canonical' => $form, 'signature' => PicStream::signature($form, $c['key']),
              'path' => PicStream::signPath($c['template'], $c['fmt'], $params, $c['key'])];
}
echo json_encode($out, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\\n";
"""

RUBY = """
require 'json'
require ARGV[0]
out = JSON.parse($stdin.read).map do |c|
  form = PicStream.canonical(c['template'], c['fmt'], c['params'])
  { canonical: form, signature: PicStream.signature(form, c['key']),
    path: PicStream.sign_path(c['template'], c['fmt'], c['params'], c['key']) }
end
puts JSON.generate(out)
"""

GO = """package main

import (
	"encoding/json"
	"fmt"
	"os"

	"picstream"
)

type testCase struct {
	Template string            `json:"template"`
	Fmt      string            `json:"fmt"`
	Params   map[string]string `json:"params"`
	Key      string            `json:"key"`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := []map[string]string{}
	for _, c := range cases {
		form := picstream.Canonical(c.Template, c.Fmt, c.Params)
		out = append(out, map[string]string{"canonical": form,
			"signature": picstream.Signature(form, c.Key),
			"path":      picstream.SignPath(c.Template, c.Fmt, c.Params, c.Key)})
	}
	data, _ := json.Marshal(out)
	fmt.Println(string(data))
}
"""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (Debian: see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI is set: every client must be checked")
        pytest.skip(message)
    return found


def _python(tmp: Path) -> list[str]:
    return [sys.executable, "-c", PYTHON, str(CLIENTS / "python")]


def _node(tmp: Path) -> list[str]:
    return [_tool("node"), "--input-type=module", "-e", NODE, "--",
            str(CLIENTS / "node" / "picstream.js")]


def _php(tmp: Path) -> list[str]:
    return [_tool("php"), "-r", PHP, str(CLIENTS / "php" / "PicStream.php")]


def _ruby(tmp: Path) -> list[str]:
    return [_tool("ruby"), "-e", RUBY, str(CLIENTS / "ruby" / "picstream.rb")]


def _go(tmp: Path) -> list[str]:
    go = _tool("go")
    (tmp / "go.mod").write_text("module driver\n\ngo 1.19\n\nrequire picstream v0.0.0\n\n"
                                f"replace picstream => {CLIENTS / 'go'}\n")
    (tmp / "main.go").write_text(GO)
    binary = tmp / "driver"
    # Offline by construction: no proxy, no checksum database, the module from the repo.
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local",
           "GONOSUMDB": "*", "CGO_ENABLED": "0"}
    env.setdefault("GOCACHE", str(Path.home() / ".cache" / "go-build"))
    result = subprocess.run([go, "build", "-o", str(binary), "."], cwd=tmp, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return [str(binary)]


DRIVERS: dict[str, Callable[[Path], list[str]]] = {
    "python": _python, "node": _node, "php": _php, "ruby": _ruby, "go": _go}

LIVE = {"template": "email-header", "fmt": "png", "key": TEST_KEYS[0],
        "params": {"headline": "Signed outside Python: 100% & more", "name": "Zoë", "w": "300"}}


def _run(driver: list[str], cases: list[dict[str, Any]]) -> list[dict[str, str]]:
    result = subprocess.run(driver, input=json.dumps(cases), capture_output=True, text=True,
                            encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _cases() -> list[dict[str, Any]]:
    return [{"template": v["template"], "fmt": v["fmt"], "key": v["keys"][0],
             "params": {**v["variables"], **v["options"]}} for v in VECTORS["vectors"]]


@pytest.mark.parametrize("language", sorted(DRIVERS))
async def test_client_reproduces_every_vector_and_renders_live(
        language: str, tmp_path: Path, live: tuple[str, Any]) -> None:
    driver = DRIVERS[language](tmp_path)
    jpeg = next(i for i, v in enumerate(VECTORS["vectors"]) if v["fmt"] == "jpeg")
    as_jpg = {**_cases()[jpeg], "fmt": "jpg"}
    got = _run(driver, [*_cases(), as_jpg, LIVE])
    for computed, vector in zip(got, [*VECTORS["vectors"], VECTORS["vectors"][jpeg]],
                                strict=False):
        assert computed == {k: vector[k] for k in ("canonical", "signature", "path")}, (
            f"{language}: vector {vector['name']}")
    assert len(got) == len(VECTORS["vectors"]) + 2      # `jpg` minted as its one URL, `jpeg`
    base, _app = live
    async with aiohttp.ClientSession() as session, session.get(base + got[-1]["path"]) as resp:
        body = await resp.read()
        assert resp.status == 200, body[:200]
        assert resp.headers["Content-Type"] == "image/png"
    import pyvips

    assert pyvips.Image.new_from_buffer(body, "").width == 300


def test_python_client_agrees_with_the_server_signer() -> None:
    sys.path.insert(0, str(CLIENTS / "python"))
    try:
        from picstream_url import sign_url
    finally:
        sys.path.remove(str(CLIENTS / "python"))
    from proxy.urls import sign_url as server_sign_url

    params = {"name": "Ada", "badge": True}
    assert sign_url("http://x/", "social-card", "webp", {**params, "w": 600, "dpr": 2.0},
                    TEST_KEYS[0]) == server_sign_url(
        "social-card", params, keys=TEST_KEYS, fmt="webp", width=600, dpr=2.0,
        base_url="http://x")


def _snippets() -> dict[str, str]:
    readme = (CLIENTS / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"```(python|js|php|ruby|go)\n(.*?)```", readme, flags=re.S))


def _snippet_program(language: str, snippet: str, key: str, tmp: Path) -> list[str]:
    """The README snippet as a whole program that prints `url` (imports made absolute)."""
    if language == "python":
        code = f"import sys\nsys.path.insert(0, {str(CLIENTS / 'python')!r})\nkey = {key!r}\n"
        return [sys.executable, "-c", code + snippet + "print(url)\n"]
    if language == "js":
        module = (CLIENTS / "node" / "picstream.js").as_uri()
        code = snippet.replace("'./picstream.js'", f"'{module}'")
        return [_tool("node"), "--input-type=module", "-e",
                f"const key = {json.dumps(key)};\n{code}console.log(url);\n"]
    if language == "php":
        code = snippet.replace("require 'PicStream.php';",
                               f"require {json.dumps(str(CLIENTS / 'php' / 'PicStream.php'))};")
        return [_tool("php"), "-r", f"$key = {json.dumps(key)};\n{code}echo $url;\n"]
    if language == "ruby":
        code = snippet.replace("require_relative 'picstream'",
                               f"require {json.dumps(str(CLIENTS / 'ruby' / 'picstream'))}")
        return [_tool("ruby"), "-e", f"key = {json.dumps(key)}\n{code}puts url\n"]
    body = "\n".join("\t" + line for line in snippet.splitlines())
    (tmp / "go.mod").write_text("module snippet\n\ngo 1.19\n\nrequire picstream v0.0.0\n\n"
                                f"replace picstream => {CLIENTS / 'go'}\n")
    (tmp / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"picstream"\n)\n\nfunc main() {\n'
        f"\tkey := {json.dumps(key)}\n{body}\n\tfmt.Println(url)\n}}\n")
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local",
           "CGO_ENABLED": "0"}
    result = subprocess.run([_tool("go"), "build", "-o", str(tmp / "snippet"), "."], cwd=tmp,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return [str(tmp / "snippet")]


@pytest.mark.parametrize("language", ["python", "js", "php", "ruby", "go"])
def test_readme_snippet_prints_the_servers_url(language: str, tmp_path: Path) -> None:
    from proxy.urls import sign_url

    snippet = _snippets()[language]
    program = _snippet_program(language, snippet, TEST_KEYS[0], tmp_path)
    result = subprocess.run(program, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sign_url("social-card", {"name": "Ada"}, keys=TEST_KEYS,
                                             fmt="webp", width=600,
                                             base_url="https://img.example.com")
