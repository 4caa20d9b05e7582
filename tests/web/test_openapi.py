"""The OpenAPI document matches the router, validates, and schemathesis finds no 5xx."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from proxy.config import Settings, load_settings
from proxy.web.app import create_app
from proxy.web.openapi import openapi_document

API_KEY = "openapi-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    # Small outputs keep fuzzed renders quick; the limits themselves are what is fuzzed.
    return settings_factory(
        api={"keys": (f"fuzz:{hashlib.sha256(API_KEY.encode()).hexdigest()}",),
             "max_batch_items": 50},
        limits={"max_output_side": 1024, "max_output_pixels": 1_000_000})


def validator(name: str, document: dict[str, Any]) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema)


def test_every_v1_route_is_documented_and_vice_versa() -> None:
    app = create_app(load_settings(environ={}))
    routed = {(r.resource.canonical, r.method.lower()) for r in app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/v1/")}
    document = openapi_document("http://x")
    documented = {(path, method) for path, item in document["paths"].items()
                  for method in item if method in METHODS}
    assert routed == documented


def test_component_schemas_are_valid_json_schema() -> None:
    document = openapi_document("http://x")
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    text = json.dumps(document)
    for name in document["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text, f"schema {name} is never used"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                ref = response.get("$ref")
                if ref is not None:
                    assert ref.split("/")[-1] in document["components"]["responses"], (
                        path, method, status)


async def test_live_responses_match_their_schemas(live) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.get(f"{base}/v1/openapi.json") as resp:
            document = await resp.json()
        checks: list[tuple[str, Any]] = []
        async with session.get(f"{base}/v1/templates") as resp:
            checks.append(("TemplateList", await resp.json()))
        async with session.get(f"{base}/v1/templates/social-card") as resp:
            checks.append(("Template", await resp.json()))
        render = {"template": "social-card", "variables": {"name": "Schema"},
                  "output": {"format": "jpeg", "width": 100}}
        async with session.post(f"{base}/v1/render", json=render) as resp:
            checks.append(("RenderResult", await resp.json()))
        bad = {"template": "social-card", "variables": {"name": 5 * "x" * 100}}
        async with session.post(f"{base}/v1/render", json=bad) as resp:
            assert resp.status == 422
            checks.append(("Error", await resp.json()))
        batch = {"template": "social-card", "prerender": True,
                 "items": [{"variables": {"name": "A"}}, {"variables": {"nope": 1}}],
                 "output": {"width": 64}}
        async with session.post(f"{base}/v1/batch", json=batch) as resp:
            created = await resp.json()
            checks.append(("BatchCreated", created))
        async with session.get(f"{base}/v1/batch/{created['id']}") as resp:
            checks.append(("BatchProgress", await resp.json()))
        async with session.get(f"{base}/v1/batch/{created['id']}/results") as resp:
            for line in (await resp.text()).splitlines():
                checks.append(("BatchResultLine", json.loads(line)))
    for name, body in checks:
        validator(name, document).validate(body)


@pytest.mark.skipif(shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None,
                    reason="schemathesis is not installed (pip install -e .[dev])")
async def test_schemathesis_finds_no_server_errors(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    st = str(Path(sys.executable).parent / "schemathesis")
    proc = await asyncio.create_subprocess_exec(
        st, "run", f"{base}/v1/openapi.json", "--url", base,
        "--checks", "not_a_server_error", "--max-examples", "8", "--seed", "1",
        "--max-time", "15", "--phases", "examples,coverage,fuzzing",
        "-H", f"Authorization: Bearer {API_KEY}", "--request-timeout", "20",
        "--report-dir", str(tmp_path), "--no-color",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    print(text[-3000:])
    assert proc.returncode == 0, text[-6000:]
