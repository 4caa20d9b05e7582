"""`picstream batch` offline: files written atomically, resumable, failures reported, URLs."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pyvips

from proxy.batch_cli import write_atomic
from proxy.cli import main
from proxy.config import load_settings
from proxy.urls import verify_raw
from tests.conftest import TEST_KEYS


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PICSTREAM_SIGNING_KEYS", ",".join(TEST_KEYS))
    monkeypatch.setenv("PICSTREAM_SERVER_PUBLIC_BASE_URL", "https://img.example.com")


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "accent", "w"])
        writer.writeheader()
        writer.writerows(rows)
    return path


ROWS = [{"name": f"Person {i}", "accent": "#38bdf8", "w": ""} for i in range(12)]
ROWS[4] = {"name": "x" * 100, "accent": "#38bdf8", "w": ""}
ROWS[9] = {"name": "Nine", "accent": "not-a-colour", "w": ""}
ROWS[10] = {"name": "Wide", "accent": "#000", "w": "300"}


def test_offline_batch_writes_files_reports_failures_and_exits_non_zero(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = write_csv(tmp_path / "rows.csv", ROWS)
    code = main(["batch", "social-card", str(rows), "--out", "out", "--width", "120"])
    assert code == 3
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [f"{i:06d}.jpg" for i in range(12) if i not in (4, 9)]
    assert pyvips.Image.new_from_file(str(tmp_path / "out" / "000000.jpg")).width == 120
    assert pyvips.Image.new_from_file(str(tmp_path / "out" / "000010.jpg")).width == 300
    err = capsys.readouterr().err
    assert "10 ok, 2 failed of 12 rows" in err
    assert "row 4: name: longer than 80 characters" in err
    assert "row 9: accent:" in err


def test_rerun_resumes_by_skipping_written_files(tmp_path: Path) -> None:
    rows = write_csv(tmp_path / "rows.csv", [r for i, r in enumerate(ROWS) if i not in (4, 9)])
    assert main(["batch", "social-card", str(rows), "--out", "out", "--width", "100",
                 "--format", "png"]) == 0
    out = tmp_path / "out"
    first = out / "000000.png"
    os.utime(first, (1, 1))
    (out / "000003.png").unlink()
    (out / ".000005.png.tmp-999").write_bytes(b"partial")  # left by a killed run
    assert main(["batch", "social-card", str(rows), "--out", "out", "--width", "100",
                 "--format", "png"]) == 0
    assert first.stat().st_mtime == 1, "an existing output was not re-rendered"
    assert (out / "000003.png").exists()
    assert not any(p.name.startswith(".") for p in out.iterdir())


def test_a_crash_while_writing_leaves_no_partial_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_atomic(tmp_path / "a.jpg", b"data")
    assert list(tmp_path.iterdir()) == []


def test_urls_mode_mints_verifiable_pinned_urls(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in [
        {"name": "Ann", "accent": "#ff0000"}, {"name": "Bob", "w": 300}, {"nope": "x"}]))
    assert main(["batch", "social-card", str(rows), "--urls", "urls.csv",
                 "--format", "webp"]) == 3
    with (tmp_path / "urls.csv").open() as f:
        lines = list(csv.DictReader(f))
    assert [line["row"] for line in lines] == ["0", "1", "2"]
    assert lines[2]["url"] == "" and "unknown variable" in lines[2]["error"]
    settings = load_settings(environ={})
    for line in lines[:2]:
        parts = urlsplit(line["url"])
        assert parts.netloc == "img.example.com"
        _, _, sig, name = parts.path.split("/")
        pairs = [tuple(p.split("=", 1)) for p in parts.query.split("&")]
        from urllib.parse import unquote
        decoded = [(k, unquote(v)) for k, v in pairs]
        verify_raw(sig, "social-card", "webp", decoded, TEST_KEYS, allow_unsafe=False)
        assert name == "social-card.webp" and any(k == "v" for k, _ in decoded)
    assert settings.limits.max_url_bytes > len(lines[0]["url"])


async def test_api_mode_renders_through_the_server(tmp_path: Path,
                                                   settings_factory,  # type: ignore[no-untyped-def]
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import hashlib

    from tests.support.servers import start_app

    key = "cli-api-key-0123456789"
    settings = settings_factory(api={"keys": (f"cli:{hashlib.sha256(key.encode()).hexdigest()}",)})
    server, _ = await start_app(settings)
    try:
        rows = write_csv(tmp_path / "rows.csv", ROWS[:6])
        base = f"http://127.0.0.1:{server.port}"
        code = await asyncio.to_thread(main, [
            "batch", "social-card", str(rows), "--out", "api-out", "--width", "90",
            "--api", base, "--api-key", key, "--workers", "2"])
    finally:
        await server.close()
    assert code == 3
    names = sorted(p.name for p in (tmp_path / "api-out").iterdir())
    assert names == [f"{i:06d}.jpg" for i in range(6) if i != 4]
    assert pyvips.Image.new_from_file(str(tmp_path / "api-out" / "000000.jpg")).width == 90
    assert "row 4: variables.name: longer than 80 characters" in capsys.readouterr().err


async def test_api_mode_is_one_server_batch_that_a_rerun_or_resume_picks_up(
        tmp_path: Path, settings_factory,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import hashlib
    import re

    from proxy.web.keys import SERVICE
    from tests.support.servers import start_app

    key = "cli-api-key-0123456789"
    settings = settings_factory(api={"keys": (f"cli:{hashlib.sha256(key.encode()).hexdigest()}",)})
    server, app = await start_app(settings)
    base = f"http://127.0.0.1:{server.port}"
    rows = write_csv(tmp_path / "rows.csv", [r for i, r in enumerate(ROWS[:8]) if i != 4])
    command = ["batch", "social-card", str(rows), "--out", "out", "--width", "80",
               "--api", base, "--api-key", key]
    try:
        assert await asyncio.to_thread(main, command) == 0
        first = re.findall(r"batch (\S+) \(resume", capsys.readouterr().err)
        renders = app[SERVICE].renders
        (tmp_path / "out" / "000002.jpg").unlink()
        # The same command again: the same batch (Idempotency-Key), nothing rendered again.
        assert await asyncio.to_thread(main, command) == 0
        again = re.findall(r"batch (\S+) \(resume", capsys.readouterr().err)
        assert (tmp_path / "out" / "000002.jpg").exists()
        (tmp_path / "out" / "000003.jpg").unlink()
        resumed = await asyncio.to_thread(main, [*command, "--resume", first[0]])
    finally:
        await server.close()
    assert first == again and len(first) == 1 and resumed == 0
    assert app[SERVICE].renders == renders == 7
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"{i:06d}.jpg" for i in range(7)]
    assert pyvips.Image.new_from_file(str(tmp_path / "out" / "000003.jpg")).width == 80


def test_batch_files_follow_the_umask_like_any_new_file(tmp_path: Path) -> None:
    rows = write_csv(tmp_path / "rows.csv", ROWS[:2])
    old = os.umask(0o022)
    try:
        assert main(["batch", "social-card", str(rows), "--out", "out", "--width", "60"]) == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()}
    assert modes == {"000000.jpg": 0o644, "000001.jpg": 0o644}   # was 0600 (mkstemp's)


async def test_rows_past_the_download_bound_wait_for_a_download_instead_of_failing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # 64 rows are in flight (2 workers x 16-row chunks x 2); the fetcher takes 4 downloads at
    # once and refuses the rest with "retry shortly". The batch waited for none of them: with
    # a slow origin most rows failed (the real workload lost 95 of 10,000).
    import asyncio

    from tests.support.slow_origin import SlowOrigin

    for name, value in {"ALLOW_LOOPBACK": "true", "ALLOW_HTTP": "true",
                        "ALLOW_PORTS": "1024-65535", "MAX_CONCURRENT_FETCHES": "4"}.items():
        monkeypatch.setenv(f"PICSTREAM_SOURCES_{name}", value)
    async with SlowOrigin(delay_s=0.05) as origin:
        path = tmp_path / "rows.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["name", "avatar"])
            writer.writeheader()
            writer.writerows({"name": f"Row {i}", "avatar": origin.url(f"a{i}")}
                             for i in range(40))
        code = await asyncio.to_thread(main, ["batch", "social-card", str(path), "--out", "out",
                                              "--width", "200", "--workers", "2"])
        assert origin.requests == 40
    err = capsys.readouterr().err
    assert code == 0, err[-1500:]
    assert "40 ok, 0 failed of 40 rows" in err
    assert len(list((tmp_path / "out").iterdir())) == 40


def test_every_batch_id_can_be_given_to_resume() -> None:
    import re

    from proxy.cli import build_parser
    from proxy.web.api_batch import new_batch_id

    ids = {new_batch_id() for _ in range(2000)}
    # token_urlsafe ids started with "-" 1 time in 64, and argparse took them for an option
    assert len(ids) == 2000 and all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)
    parser = build_parser()
    for batch_id in sorted(ids)[:50]:
        args = parser.parse_args(["batch", "social-card", "rows.csv", "--api", "http://x",
                                  "--urls", "u.txt", "--resume", batch_id])
        assert args.resume == batch_id
