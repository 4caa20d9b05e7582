"""Every front door mints the same URL for the same input and refuses the same inputs.

Doors: `picstream sign --pin`, `sign_url(version=...)`, `POST /v1/render`, `POST /v1/batch` and
`picstream batch --urls`, against one real `picstream serve` (which answers every minted URL,
and refuses, with the same message, what the template-aware doors refuse).
"""

from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.cli import main
from proxy.config import Server, load_settings, replace
from proxy.errors import ProxyError
from proxy.spec import RenderSpec, url_value
from proxy.template.registry import Registry
from proxy.urls import build_spec, sign_path, sign_url, signed_url
from tests.conftest import ROOT, TEST_KEYS
from tests.support.servers import ProcessServer
from tests.web.test_api import API_KEY, api_keys

VERSION = Registry(ROOT / "templates").get("social-card").version


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    base = replace(load_settings(environ={}), signing={"keys": TEST_KEYS},
                   api={"keys": api_keys(API_KEY)}, server={"port": 0},
                   sources={"data_dir": str(tmp_path_factory.mktemp("data"))})
    proc = ProcessServer(base)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def cli_env(server: ProcessServer, monkeypatch: pytest.MonkeyPatch) -> ProcessServer:
    monkeypatch.setenv("PICSTREAM_SIGNING_KEYS", ",".join(TEST_KEYS))
    monkeypatch.setenv("PICSTREAM_SERVER_PUBLIC_BASE_URL", server.url)
    return server


def http(method: str, url: str, body: object = None) -> tuple[int, dict[str, object] | bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


# What a door answered: the URL it minted, or the message it refused the input with.
Outcome = tuple[str | None, str | None]


def door_cli_sign(values: dict[str, object], fmt: str, width: int | None, dpr: float | None,
                  capsys: pytest.CaptureFixture[str]) -> Outcome:
    # A shell gives text: each value as the one spelling the other doors make of it.
    args = ["sign", "social-card", *(f"{k}={url_value(k, v)}" for k, v in values.items()),
            "--format", fmt, "--pin"]
    if width is not None:
        args += ["--width", str(width)]
    if dpr is not None:
        args += ["--dpr", str(dpr)]
    code = main(args)
    out = capsys.readouterr()
    if code == 0:
        return out.out.strip(), None
    return None, out.err.strip().removeprefix("picstream: ")


def door_sign_url(base: str, values: dict[str, object], fmt: str, width: int | None,
                  dpr: float | None) -> str | None:
    try:
        return sign_url("social-card", values, keys=TEST_KEYS,  # type: ignore[arg-type]
                        fmt=fmt, width=width, dpr=dpr, version=VERSION, base_url=base)
    except Exception:
        return None


# The JSON body's names for the URL's options (web/api_body.py).
API_OPTIONS = {"output.width": "w", "output.height": "h", "output.quality": "q",
               "output.dpr": "dpr", "output.format": "fmt"}


ApiOutcome = tuple[str | None, tuple[str, str] | None]


def _first_error(errors: list[dict[str, str]], prefix: str = "") -> tuple[str, str]:
    """The first error as (the URL's name of its field, its message)."""
    field = errors[0]["field"].removeprefix(prefix)
    return API_OPTIONS.get(field, field.removeprefix("variables.")), errors[0]["error"]


def _api_output(fmt: str, width: int | None, dpr: float | None) -> dict[str, object]:
    output: dict[str, object] = {"format": fmt}
    if width is not None:
        output["width"] = width
    if dpr is not None:
        output["dpr"] = dpr
    return output


def door_api(base: str, values: dict[str, object], fmt: str, width: int | None,
             dpr: float | None) -> ApiOutcome:
    """POST /v1/render: the URL, or the first error."""
    status, body = http("POST", base + "/v1/render", {
        "template": "social-card", "variables": values, "output": _api_output(fmt, width, dpr)})
    assert isinstance(body, dict), body
    if status == 200:
        return str(body["url"]), None
    assert status == 422, body
    return None, _first_error(body["errors"])


def door_api_batch(base: str, values: dict[str, object], fmt: str, width: int | None,
                   dpr: float | None) -> ApiOutcome:
    """POST /v1/batch with one item (the batch's own output): its URL, or its first error."""
    status, body = http("POST", base + "/v1/batch", {
        "template": "social-card", "items": [{"variables": values}],
        "output": _api_output(fmt, width, dpr)})
    assert status == 200 and isinstance(body, dict), body
    (item,) = body["items"]
    if item["ok"]:
        return str(item["url"]), None
    return None, _first_error(item["errors"], "items[0].")


def door_batch(tmp: Path, values: dict[str, object], fmt: str, width: int | None,
               dpr: float | None, capsys: pytest.CaptureFixture[str]) -> Outcome:
    rows, out = tmp / "rows.jsonl", tmp / "urls.csv"
    rows.write_text(json.dumps(values) + "\n")
    out.unlink(missing_ok=True)        # tmp_path is shared by every example of a test
    args = ["batch", "social-card", str(rows), "--urls", str(out), "--format", fmt]
    if width is not None:
        args += ["--width", str(width)]
    if dpr is not None:
        args += ["--dpr", str(dpr)]
    main(args)
    capsys.readouterr()
    with out.open() as f:
        (row,) = list(csv.DictReader(f))
    return row["url"] or None, row["error"] or None


def door_get(base: str, values: dict[str, object], fmt: str, width: int | None,
             dpr: float | None) -> str | None:
    """The server's own refusal of the input, signed by the library (which knows no template);
    None when the library already refuses it (a name or value no URL can carry)."""
    try:
        spec = build_spec("social-card", values, fmt=fmt,  # type: ignore[arg-type]
                          width=width, dpr=dpr, version=VERSION)
    except ProxyError:
        return None
    status, body = http("GET", signed_url(spec, TEST_KEYS, base_url=base))
    assert status == 400 and isinstance(body, dict), (status, body)
    return str(body["error"])


TEXTS = st.one_of(st.sampled_from(["Ada", "John Smith", "O'Brien & Co", "李小龙", "x" * 81,
                                   "Zoë 🚀", "a+b=c?d", "   "]),
                  st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=90))
# Every JSON scalar a text variable takes, spelled by spec.url_value at every door.
NAMES = st.one_of(TEXTS, st.booleans(), st.integers(-10**12, 10**12),
                  st.sampled_from([2.0, 1.5, -0.25, 1e21, 1e300, 0.1]),
                  st.floats(allow_nan=False, allow_infinity=False))
ACCENTS = st.sampled_from([None, "#2563eb", "#FFF", "blurple", "#12345", "#ff000080"])
# Not `w`, `h`, `q` or `dpr`: in a batch file those columns are the row's output options by
# design (the CSV/JSONL adapter's way to spell `output`), so they are another input there.
EXTRA = st.sampled_from([None, ("bogus", "1"), ("badge", "New"), ("debug", "1"),
                         ("badge", True), ("badge", 3)])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, accent=ACCENTS, extra=EXTRA,
       fmt=st.sampled_from(["png", "jpeg", "jpg", "webp"]),
       width=st.sampled_from([None, 300, 9000]),
       dpr=st.sampled_from([None, 1.0, 1.5, 2.0, 2.25, 1.125, 4.5]))
def test_every_door_mints_the_same_url_and_refuses_the_same_inputs_alike(
        cli_env: ProcessServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        name: object, accent: str | None, extra: tuple[str, object] | None, fmt: str,
        width: int | None, dpr: float | None) -> None:
    values: dict[str, object] = {"name": name}
    if accent is not None:
        values["accent"] = accent
    if extra is not None:
        values[extra[0]] = extra[1]
    base = cli_env.url
    sign_url_, sign_error = door_cli_sign(values, fmt, width, dpr, capsys)
    api_url, api_error = door_api(base, values, fmt, width, dpr)
    assert door_api_batch(base, values, fmt, width, dpr) == (api_url, api_error)
    batch_url, batch_error = door_batch(tmp_path, values, fmt, width, dpr, capsys)
    if sign_error is not None:
        # One refuses: all refuse, with the same message (the API names JSON fields).
        assert batch_error == sign_error, (sign_error, batch_error)
        assert api_error is not None, (sign_error, api_url)
        field, message = api_error
        assert sign_error in (f"{field}: {message}", message), (sign_error, api_error)
        server = door_get(base, values, fmt, width, dpr)
        assert server in (None, sign_error), (sign_error, server)
        return
    minted = {"sign": sign_url_, "api": api_url, "batch": batch_url,
              "sign_url": door_sign_url(base, values, fmt, width, dpr)}
    assert len(set(minted.values())) == 1, minted
    assert ".jpg?" not in str(sign_url_)            # jpeg is the one spelling
    status, _ = http("GET", sign_url_ or "")
    assert status == 200


@pytest.mark.parametrize(("values", "dpr", "field"), [
    ({"name": "Ada", "bogus": "1"}, None, "bogus"),
    ({"name": "Ada", "accent": "blurple"}, None, "accent"),
    ({"name": "x" * 81}, None, "name"),
    ({"name": "Ada"}, 1.125, "dpr"),
])
def test_sign_and_render_refuse_what_the_server_refuses_with_its_message(
        cli_env: ProcessServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        values: dict[str, str], dpr: float | None, field: str) -> None:
    assert door_cli_sign(values, "png", None, dpr, capsys)[0] is None
    # The server's answer to the same request, signed as it stands (no check at all).
    pairs_ = {**values, "v": VERSION, **({} if dpr is None else {"dpr": url_value("dpr", dpr)})}
    spec = RenderSpec("social-card", "png", tuple(sorted(pairs_.items())))
    status, body = http("GET", cli_env.url + sign_path(spec, TEST_KEYS))
    assert status == 400 and isinstance(body, dict)
    flags = [] if dpr is None else ["--dpr", str(dpr)]
    pairs = [f"{k}={v}" for k, v in values.items()]
    assert main(["sign", "social-card", *pairs, *flags]) == 3
    assert capsys.readouterr().err.strip() == f"picstream: {body['error']}"
    out = tmp_path / "card.png"
    assert main(["render", "social-card", *pairs, *flags, "-o", str(out)]) == 3
    assert capsys.readouterr().err.strip() == f"picstream: {body['error']}"
    assert not out.exists()
    assert body.get("field") == field


def test_minted_urls_point_at_the_port_the_server_listens_on() -> None:
    assert Server(port=8090).base_url == "http://127.0.0.1:8090"
    assert Server(host="0.0.0.0", port=9000).base_url == "http://127.0.0.1:9000"
    assert Server(host="::", port=9000).base_url == "http://[::1]:9000"
    assert Server(port=8090, public_base_url="https://img.example.com/").base_url == (
        "https://img.example.com")


def test_api_mints_for_its_own_port(server: ProcessServer) -> None:
    status, body = http("POST", server.url + "/v1/render",
                        {"template": "social-card", "variables": {"name": "Port"}})
    assert status == 200 and isinstance(body, dict)
    assert str(body["url"]).startswith(server.url + "/i/")
