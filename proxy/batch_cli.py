"""`picstream batch`: rows of CSV/JSONL in, image files or signed URLs out, with progress.

Offline it renders in a pool of processes (one per core, each with its own template and
RenderMemo: proxy/batch_worker.py); with `--api` it asks a server instead. Every
file appears by rename of a finished temp file, so a re-run after Ctrl-C skips what exists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import uvloop

from . import formats
from .atomic import remove_temp_files, write_atomic
from .batch import Progress, run_batch
from .batch_worker import WorkerJob, WorkerSetup, init_worker, render_chunk
from .config import Limits, Settings
from .errors import BadRequest, ProxyError
from .request import Checked, build
from .template.model import Template

# Row columns that set output options rather than variables (the URL's names).
OUTPUT_COLUMNS = ("w", "h", "q", "dpr")
API_OUTPUT = {"w": "width", "h": "height", "q": "quality", "dpr": "dpr"}
SHOWN_FAILURES = 20
TMP_MARK = ".tmp-"


@dataclass(frozen=True)
class Row:
    """One input row: raw values by column (variables and output options).

    CSV gives strings, JSONL any JSON scalar; the builder spells them (spec.url_value), so a
    bad value fails its own row, not the file.
    """

    index: int
    values: dict[str, object]


def read_rows(path: Path) -> list[Row]:
    """Rows of a CSV (header = column names) or JSONL (one object per line) file."""
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as f:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    raise BadRequest(f"{path.name}:{number}: not a JSON object") from None
                if not isinstance(data, dict):
                    raise BadRequest(f"{path.name}:{number}: not a JSON object")
                rows.append(Row(len(rows), {str(k): v for k, v in data.items()
                                            if v is not None}))
        else:
            for record in csv.DictReader(f):
                rows.append(Row(len(rows), {k: v for k, v in record.items()
                                            if k is not None and v is not None and v != ""}))
    return rows


class ProgressBar:
    """A one-line progress bar on stderr: rows, rows/s, ETA, failures (redrawn <= 5x/s)."""

    def __init__(self, stream: IO[str] = sys.stderr, min_interval_s: float = 0.2) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        # Without a terminal a redrawn line is noise in a log: print one every few seconds.
        self.min_interval_s = min_interval_s if self.tty else 5.0
        self.last = 0.0

    def update(self, progress: Progress, *, force: bool = False) -> None:
        """Redraw if enough time passed (or `force`)."""
        now = time.monotonic()
        if not force and now - self.last < self.min_interval_s:
            return
        self.last = now
        total = max(progress.total, 1)
        share = progress.finished / total
        bar = "#" * int(share * 24)
        eta = progress.eta_s
        line = (f"{progress.finished:>7,}/{progress.total:,} [{bar:<24}] {share:4.0%} "
                f"{progress.rate_per_s:7.1f} rows/s  ETA {_duration(eta)}"
                f"{f'  {progress.failed} failed' if progress.failed else ''}")
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self, progress: Progress) -> None:
        """Draw the final state and end the line."""
        self.update(progress, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = int(seconds + 0.5)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _clean_temp_files(folder: Path) -> None:
    # Leftovers of an interrupted run: never complete outputs, always safe to remove.
    remove_temp_files(folder)
    remove_temp_files(folder, f".*{TMP_MARK}*")  # the names earlier versions used


@dataclass(frozen=True)
class Plan:
    """What every row shares: template name, format and default output options."""

    template: str
    fmt: str
    defaults: dict[str, object]     # output options by URL name, under each row's columns


def row_request(row: Row, plan: Plan, template: Template, limits: Limits, *,
                pin: bool = False) -> Checked:
    """The CSV/JSONL adapter: the row's columns over the command line's output options,
    checked by the one builder (proxy/request.py); `w`, `h`, `q` and `dpr` columns are options.
    """
    variables = {**plan.defaults, **row.values}
    options = {name: variables.pop(name) for name in OUTPUT_COLUMNS if name in variables}
    if pin:
        options["v"] = template.version
    return build(template, variables, options, plan.fmt, limits)


def _output_name(row: Row, fmt: str, digits: int) -> str:
    return f"{row.index:0{digits}d}.{formats.get(fmt).extension}"


# --- offline rendering ----------------------------------------------------------------------

async def _render_offline(settings: Settings, plan: Plan, rows: list[Row], out: Path,
                          workers: int, on_progress: Callable[[Progress], None],
                          progress: Progress, vips_threads: int = 1) -> None:
    from .render.fontcheck import font_ok
    from .sources.assets import AssetStore
    from .sources.fetch import Fetcher
    from .sources.resolve import SourceResolver
    from .template.registry import Registry

    # Loaded once: every row shares the template object, so the memo's per-template work
    # (background, static layers) is reused by all of them.
    template = Registry(Path(settings.templates.dir), font_ok=font_ok).get(plan.template)
    if plan.fmt not in template.formats:
        raise BadRequest(f"template {template.name} is not offered as {plan.fmt}")
    image_vars = sum(1 for v in template.variables.values() if v.type == "image")
    has_images = image_vars > 0
    # The fetcher refuses downloads past its bound ("retry shortly": right for a live server,
    # which sheds load). A batch has more rows in flight than that and must wait its turn,
    # not fail the rows (10,000 avatar rows lost ~1 % of them).
    downloads = asyncio.Semaphore(max(1, settings.sources.max_concurrent_fetches
                                      // max(1, image_vars)))
    digits = max(6, len(str(len(rows))))
    setup = WorkerSetup(templates_dir=settings.templates.dir, template=template.name,
                        max_output_side=settings.limits.max_output_side,
                        max_output_pixels=settings.limits.max_output_pixels,
                        vips_threads=vips_threads,
                        # the bound is the batch's, shared out: each process holds its own memo
                        memo_max_bytes=settings.cache.render_memo_max_bytes // max(1, workers),
                        vips_max_ops=settings.cache.vips_max_ops,
                        vips_max_bytes=settings.cache.vips_max_bytes)
    # Processes, not threads: see proxy/batch_worker.py (measured 1.35x with two threads).
    # spawn, not fork: this process already ran libvips, and forked children deadlock.
    pool = ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(setup,),
                               mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()

    async with Fetcher(settings.sources) as fetcher:
        resolver = SourceResolver(settings, fetcher,
                                  AssetStore(Path(settings.sources.data_dir) / "assets"))

        # Resumed rows: files written whole by an earlier run. One listing, not a stat per
        # row (about 65 µs each in a 10,000-file folder, in a parent that does little else).
        written = {entry.name for entry in os.scandir(out)}

        async def work(_: int, row: Row) -> None:
            name = _output_name(row, plan.fmt, digits)
            if name in written:
                return
            path = out / name
            checked = row_request(row, plan, template, settings.limits)  # bad rows fail, named
            images: dict[str, bytes] = {}
            if has_images:
                async with downloads:
                    images = (await resolver.resolve(template, checked.values)).images
            job = WorkerJob(values=dict(checked.spec.variables), images=images,
                            output=checked.spec.output_options(plan.fmt), path=str(path))
            await chunks.submit(job)

        chunks = _Chunker(pool, loop)
        try:
            # Two chunks per worker in flight: the next rows are prepared while others render.
            await run_batch(iter_rows(rows), work, progress,
                            concurrency=workers * CHUNK_ROWS * 2, on_progress=on_progress,
                            describe=_describe_error)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


CHUNK_ROWS = 16
# How often `--api` asks the server for the batch's progress.
API_POLL_S = 0.5


class _Chunker:
    """Groups row jobs into chunks for the worker processes; each row awaits its own result."""

    def __init__(self, pool: ProcessPoolExecutor, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.pending: list[tuple[WorkerJob, asyncio.Future[None]]] = []
        self.timer: asyncio.TimerHandle | None = None

    async def submit(self, job: WorkerJob) -> None:
        """Queue `job`; return when its row is written (or raise its error)."""
        future: asyncio.Future[None] = self.loop.create_future()
        self.pending.append((job, future))
        if len(self.pending) >= CHUNK_ROWS:
            self.flush()
        elif self.timer is None:
            # The last rows of a run (or a slow trickle) do not wait for a full chunk.
            self.timer = self.loop.call_later(0.01, self.flush)
        await future

    def flush(self) -> None:
        """Send what is pending to a worker process."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if not batch:
            return
        done = self.loop.run_in_executor(self.pool, render_chunk, [job for job, _ in batch])

        def deliver(result: asyncio.Future[list[BaseException | None]]) -> None:
            error = result.exception() if not result.cancelled() else asyncio.CancelledError()
            outcomes = [error] * len(batch) if error is not None else result.result()
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)

        done.add_done_callback(deliver)


def _describe_error(error: BaseException) -> str:
    if isinstance(error, ProxyError):
        return error.public
    return f"{type(error).__name__}: {error}"


# --- against a server's API -----------------------------------------------------------------

def _api_item(plan: Plan, row: Row) -> dict[str, Any]:
    """One row as a batch item, values as read (the server spells them as row_request does); an
    option that is not a number is sent as is (the server names it in the row's error)."""
    merged: dict[str, Any] = {**plan.defaults, **row.values}
    output: dict[str, Any] = {"format": plan.fmt}
    for short, name in API_OUTPUT.items():
        raw = merged.pop(short, None)
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                raw = float(raw) if short == "dpr" else int(raw)
        if raw is not None:
            output[name] = raw
    return {"variables": merged, "output": output}


def batch_key(plan: Plan, items: list[dict[str, Any]]) -> str:
    """The Idempotency-Key of a run: the same command on the same rows is the same batch."""
    text = json.dumps([plan.template, plan.fmt, items], sort_keys=True, separators=(",", ":"))
    return "picstream-cli-" + hashlib.sha256(text.encode()).hexdigest()


async def _render_api(api: str, api_key: str, plan: Plan, rows: list[Row], out: Path,
                      on_progress: Callable[[Progress], None], progress: Progress,
                      resume: str | None = None) -> None:
    """The rows as one server batch (POST /v1/batch with prerender): every host of the server
    renders it; poll its progress, then unpack its results.zip into `out`.

    A re-run of the same command sends the same Idempotency-Key, so it resumes the batch
    rather than starting another; `resume` names a batch id directly.
    """
    import aiohttp

    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(api.rstrip("/"), headers=headers) as session:
        batch_id = resume
        if batch_id is None:
            items = [_api_item(plan, row) for row in rows]
            body = {"template": plan.template, "items": items, "prerender": True}
            async with session.post("/v1/batch", json=body,
                                    headers={"Idempotency-Key": batch_key(plan, items)}) as resp:
                data = await resp.read()
                if resp.status not in (200, 202):
                    raise BadRequest(_api_error(resp.status, data))
                batch_id = str(json.loads(data)["id"])
        print(f"batch {batch_id} (resume with --resume {batch_id})", file=sys.stderr)
        while True:
            async with session.get(f"/v1/batch/{batch_id}") as resp:
                data = await resp.read()
                if resp.status != 200:
                    raise BadRequest(_api_error(resp.status, data))
            state = json.loads(data)
            progress.done, progress.failed = int(state["done"]), int(state["failed"])
            on_progress(progress)
            if state["state"] in ("done", "cancelled"):
                break
            await asyncio.sleep(API_POLL_S)
        progress.done = progress.failed = 0
        async with session.get(f"/v1/batch/{batch_id}/results") as resp:
            async for raw in resp.content:
                line = json.loads(raw)
                error = line.get("error") or (None if line["status"] == "rendered"
                                              else line["status"])
                if error is not None:
                    # The server names fields per item (`items[4].variables.name`); the CLI
                    # already says which row.
                    error = re.sub(r"(^|; )items\[\d+\]\.", r"\1", error)
                progress.record(int(line["index"]), error)
        await _unpack_zip(session, batch_id, rows, plan, out)
    on_progress(progress)


async def _unpack_zip(session: Any, batch_id: str, rows: list[Row], plan: Plan,
                      out: Path) -> None:
    """Download results.zip to a temp file (never whole in memory) and write each image."""
    digits = max(6, len(str(len(rows))))
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryFile() as spool:
        async with session.get(f"/v1/batch/{batch_id}/results.zip") as resp:
            if resp.status != 200:
                raise BadRequest(_api_error(resp.status, await resp.read()))
            async for block in resp.content.iter_chunked(256 * 1024):
                spool.write(block)

        def unpack() -> None:
            spool.seek(0)
            with zipfile.ZipFile(spool) as archive:
                for name in archive.namelist():
                    index = int(name.split(".", 1)[0])
                    path = out / _output_name(rows[index], plan.fmt, digits)
                    if not path.exists():  # resumed: written whole by an earlier run
                        write_atomic(path, archive.read(name), fsync=False)

        await loop.run_in_executor(None, unpack)


def _api_error(status: int, data: bytes) -> str:
    try:
        body = json.loads(data)
        errors = body.get("errors") or [{"field": body.get("field"), "error": body["error"]}]
        return "; ".join(f"{e['field']}: {e['error']}" if e.get("field") else str(e["error"])
                         for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"HTTP {status}"


# --- URLs only ------------------------------------------------------------------------------

def _mint_urls(settings: Settings, plan: Plan, rows: list[Row], dest: Path,
               bar: ProgressBar, progress: Progress) -> None:
    from .render.fontcheck import font_ok
    from .template.registry import Registry
    from .urls import signed_url

    if not settings.signing.keys:
        raise BadRequest("signing.keys (PICSTREAM_SIGNING_KEYS): no key configured")
    template = Registry(Path(settings.templates.dir), font_ok=font_ok).get(plan.template)
    base = settings.server.base_url
    tmp = dest.with_name(f".{dest.name}{TMP_MARK}{os.getpid()}")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "url", "error"])
        for row in rows:
            try:
                spec = row_request(row, plan, template, settings.limits, pin=True).spec
                url = signed_url(spec, settings.signing.keys, base_url=base,
                                 limits=settings.limits)
                writer.writerow([row.index, url, ""])
                progress.record(row.index, None)
            except ProxyError as exc:
                writer.writerow([row.index, "", exc.public])
                progress.record(row.index, exc.public)
            bar.update(progress)
    os.replace(tmp, dest)


# --- the command ----------------------------------------------------------------------------

def add_batch_parser(sub: Any) -> None:
    """Register `picstream batch` on the CLI's subparsers."""
    from .cli import add_output_arguments

    p = sub.add_parser("batch", help="render or sign many rows of a CSV/JSONL file")
    p.add_argument("template")
    p.add_argument("rows", help="rows.csv (header = variable names) or rows.jsonl")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", metavar="DIR", help="write one image per row: DIR/000042.jpg")
    dest.add_argument("--urls", metavar="FILE", help="only mint signed URLs into a CSV")
    add_output_arguments(p, formats.SPELLINGS, "jpeg")
    p.add_argument("--workers", type=int, default=0, help="render processes (default: cores)")
    p.add_argument("--vips-threads", type=int, default=1,
                   help="libvips threads per render (1 is fastest for many small images)")
    p.add_argument("--api", metavar="URL",
                   help="render as one batch on this server (POST /v1/batch; every host works "
                   "it) and unpack its results.zip")
    p.add_argument("--resume", metavar="BATCH_ID",
                   help="with --api: follow and fetch this batch instead of posting the rows")
    p.add_argument("--api-key", default=os.environ.get("PICSTREAM_API_KEY"),
                   help="API key for --api (default: $PICSTREAM_API_KEY)")
    p.set_defaults(func=cmd_batch)


def _plan(args: argparse.Namespace) -> Plan:
    from .cli import output_options

    defaults = {name: value for name, value in output_options(args).items() if value is not None}
    return Plan(template=args.template, fmt=formats.get(args.format).name, defaults=defaults)


def cmd_batch(args: argparse.Namespace) -> int:
    """Render (or sign) every row; summary of failures; non-zero exit if any row failed."""
    from .config import load_settings

    settings = load_settings(args.config or ())
    rows = read_rows(Path(args.rows))
    plan = _plan(args)
    workers = args.workers or os.cpu_count() or 2
    progress = Progress(total=len(rows))
    bar = ProgressBar()
    started = time.perf_counter()
    interrupted = False
    try:
        if args.urls:
            _mint_urls(settings, plan, rows, Path(args.urls), bar, progress)
        else:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            _clean_temp_files(out)
            if args.resume and not args.api:
                raise BadRequest("--resume needs --api URL")
            if args.api:
                if not args.api_key:
                    raise BadRequest("--api needs --api-key (or $PICSTREAM_API_KEY)")
                coro = _render_api(args.api, args.api_key, plan, rows, out, bar.update,
                                   progress, args.resume)
            else:
                # Many small images: one libvips thread per render and one render process
                # per core beats libvips threading inside each image.
                coro = _render_offline(settings, plan, rows, out, workers, bar.update,
                                       progress, args.vips_threads)
            # uvloop, as the server: this process fetches every row's sources and feeds the
            # render processes (real workload, 3,000 rows, 4 pairs of runs: a median of 141
            # rows/s against 132 with asyncio's loop, ahead or level in every pair)
            uvloop.run(coro)
    except KeyboardInterrupt:
        interrupted = True
    bar.close(progress)
    elapsed = time.perf_counter() - started
    print(f"{progress.done:,} ok, {progress.failed:,} failed of {progress.total:,} rows in "
          f"{elapsed:.1f} s ({progress.finished / max(elapsed, 1e-9):.0f} rows/s)",
          file=sys.stderr)
    _print_failures(progress)
    if interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 3 if progress.failed else 0


def _print_failures(progress: Progress) -> None:
    if not progress.failed:
        return
    print("failures (row numbers count data rows from 0):", file=sys.stderr)
    for index, reason in sorted(progress.errors.items())[:SHOWN_FAILURES]:
        print(f"  row {index}: {reason}", file=sys.stderr)
    if progress.failed > SHOWN_FAILURES:
        print(f"  ... and {progress.failed - SHOWN_FAILURES} more", file=sys.stderr)


def iter_rows(rows: list[Row]) -> Iterator[tuple[int, Row]]:
    """Rows as (index, row) pairs for run_batch."""
    return ((r.index, r) for r in rows)
