"""The batch API: mint every item's URL at once, keep the batch in the store, report progress.

The batch and its jobs go to the app's BatchStore (in-process, or Redis with
`batch.redis_url`), and every host's BatchWorker renders chunks of it through the same
ImageService as live traffic, but only into idle render threads, so a live miss never queues
behind a batch. Progress, results and cancellation are read from the store, so any host
answers them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..batches.model import INVALID, MINTED, PENDING, BatchInfo, Job, NewBatch, Row
from ..batches.redis_store import RedisStore
from ..batches.store import BatchStore, MemoryStore
from ..batches.webhook import WebhookSender, check_url
from ..batches.worker import BatchWorker
from ..batches.zipstream import ZipStream
from ..config import Settings
from ..errors import (
    BadRequest,
    FieldError,
    InvalidBody,
    Overloaded,
    ProxyError,
    TooLarge,
    UnknownBatch,
)
from ..template.model import Template
from .api_body import Minted, check_keys, mint, read_json, template_of
from .api_limits import charge_batch, mint_pool
from .auth import ApiKey, authenticate
from .keys import FETCHER, REGISTRY, SERVICE, SETTINGS
from .service import ImageService, Served

# A render refused by a full gate (live traffic won the race) is retried, not failed.
OVERLOADED_RETRIES = 200
OVERLOADED_WAIT_S = 0.05
# How often a waiting prerender looks at the render gate again.
ADMIT_POLL_S = 0.002
NDJSON_CHUNK_LINES = 500
ZIP_JOB_BLOCK = 100
MAX_IDEMPOTENCY_KEY = 255
# A retried POST whose twin is still being stored waits this long for it.
IDEMPOTENT_WAIT_S = 3.0
# Shutdown waits this long for the worker's loops (each ends within one store call).
STOP_WAIT_S = 10.0


@dataclass
class ApiState:
    """Per-app API state: the parsed keys."""

    keys: tuple[ApiKey, ...]


API_STATE = web.AppKey("api_state_v1", ApiState)


@dataclass
class Batches:
    """The app's batch store and this host's worker."""

    store: BatchStore
    worker: BatchWorker


BATCHES = web.AppKey("batches", Batches)


# --- this host's share of the work -----------------------------------------------------------

async def _admit(service: ImageService, threads: int) -> None:
    # Lower priority: start a batch render only while a render thread is idle, so a live
    # miss waits at most for one batch render already running, never for a queue of them.
    while service.gate.in_flight >= threads:
        await asyncio.sleep(ADMIT_POLL_S)


async def _serve_job(app: web.Application, info: BatchInfo, job: Job) -> tuple[Served, str]:
    """One job's image through the caches (rendered if no tier has it) and its format."""
    settings = app[SETTINGS]
    service = app[SERVICE]
    template = app[REGISTRY].get(info.template)
    minted = mint(template, job.variables, job.output, settings)
    if isinstance(minted, list):
        raise InvalidBody(minted)
    for _ in range(OVERLOADED_RETRIES):
        try:
            return await service.get(minted.spec, template, minted.values, minted.fmt), \
                minted.fmt
        except Overloaded:
            await asyncio.sleep(OVERLOADED_WAIT_S)
            await _admit(service, settings.server.render_thread_count)
    raise Overloaded("the server stayed overloaded")


async def batches_ctx(app: web.Application) -> AsyncIterator[None]:
    """The store (Redis when `batch.redis_url` is set), the webhook sender and the worker."""
    settings = app[SETTINGS]
    config = settings.batch
    store: BatchStore
    if config.redis_url:
        store = RedisStore(config.redis_url, visibility_timeout_s=config.visibility_timeout_s,
                           retention_s=config.retention_s)
    else:
        store = MemoryStore(visibility_timeout_s=config.visibility_timeout_s)
    sender = WebhookSender(settings, app[FETCHER])
    await sender.start()
    service = app[SERVICE]
    threads = settings.server.render_thread_count

    async def render(info: BatchInfo, job: Job) -> str:
        return (await _serve_job(app, info, job))[0].tier

    worker = BatchWorker(store=store, render=render, admit=lambda: _admit(service, threads),
                         concurrency=settings.api.batch_concurrency,
                         visibility_timeout_s=config.visibility_timeout_s, webhooks=sender,
                         webhook_attempts=config.webhook_attempts,
                         webhook_backoff_s=config.webhook_backoff_s)
    app[BATCHES] = Batches(store, worker)
    task = asyncio.create_task(worker.run())
    yield
    worker.stop()
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_WAIT_S)
    await sender.close()
    await store.close()


# --- POST /v1/batch --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Item:
    result: Minted | list[FieldError]
    variables: Any
    output: dict[str, Any]


def _mint_all(template: Template, items: list[Any], output: object,
              settings: Settings) -> list[_Item]:
    """Validate every batch item (run in a thread: 10,000 items take a moment of CPU)."""
    out: list[_Item] = []
    base = output if isinstance(output, dict) else {}
    for index, item in enumerate(items):
        prefix = f"items[{index}]."
        if not isinstance(item, dict):
            out.append(_Item([FieldError(f"items[{index}]", "expected an object")], None, {}))
            continue
        unknown = check_keys(item, {"variables", "output"}, prefix)
        own = item.get("output")
        if own is not None and not isinstance(own, dict):
            out.append(_Item([*unknown, FieldError(prefix + "output", "expected an object")],
                             None, {}))
            continue
        merged = {**base, **(own or {})}
        result = mint(template, item.get("variables"), merged, settings, prefix)
        if unknown:
            result = unknown + (result if isinstance(result, list) else [])
        out.append(_Item(result, item.get("variables"), merged))
    return out


def new_batch_id() -> str:
    """A new batch's id: 24 hex digits.

    Not token_urlsafe: an id starting with "-" (1 in 64) was taken for an option by
    `picstream batch --resume ID`, the command the CLI prints for resuming a batch.
    """
    return secrets.token_hex(12)


def _new_batch(batch_id: str, template: Template, prerender: bool, webhook_url: str,
               minted: list[_Item]) -> tuple[NewBatch, list[dict[str, Any]]]:
    """The batch to store (identical items share one job) and the POST's item list."""
    urls: list[str | None] = []
    status: list[str] = []
    errors: dict[int, str] = {}
    listed: list[dict[str, Any]] = []
    jobs: dict[str, list[int]] = {}
    first: dict[str, _Item] = {}
    for index, item in enumerate(minted):
        result = item.result
        if isinstance(result, list):
            urls.append(None)
            status.append(INVALID)
            errors[index] = "; ".join(f"{e.field}: {e.error}" for e in result[:10])
            listed.append({"index": index, "ok": False,
                           "errors": [e.to_json() for e in result[:10]]})
            continue
        urls.append(result.url)
        listed.append({"index": index, "ok": True, "url": result.url})
        status.append(PENDING if prerender else MINTED)
        if prerender:
            jobs.setdefault(result.url, []).append(index)
            first.setdefault(result.url, item)
    batch = NewBatch(id=batch_id, template=template.name, version=template.version,
                     prerender=prerender, urls=urls, status="".join(status), errors=errors,
                     jobs=[Job(tuple(indexes), first[url].variables, first[url].output)
                           for url, indexes in jobs.items()],
                     webhook_url=webhook_url)
    return batch, listed


def _idempotency_key(request: web.Request, keys: tuple[ApiKey, ...]) -> str | None:
    """The Idempotency-Key header, scoped to the API key (two clients never collide)."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not raw or len(raw) > MAX_IDEMPOTENCY_KEY or not raw.isascii() or not raw.isprintable():
        raise BadRequest(f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII "
                         "characters")
    owner = authenticate(request.headers.get("Authorization"), keys)
    return hashlib.sha256(f"{owner}\n{raw}".encode()).hexdigest()


async def _stored(store: BatchStore, batch_id: str) -> BatchInfo | None:
    """The batch an Idempotency-Key names, waiting a moment if its POST is still storing it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IDEMPOTENT_WAIT_S
    info = await store.info(batch_id)
    while info is None and loop.time() < deadline:
        await asyncio.sleep(0.05)
        info = await store.info(batch_id)
    return info


async def _replay(store: BatchStore, info: BatchInfo) -> web.Response:
    """A retried POST: the batch its Idempotency-Key created, as its first answer listed it."""
    batch_id = info.id
    listed: list[dict[str, Any]] = []
    for start in range(0, info.total, NDJSON_CHUNK_LINES):
        for row in await store.rows(batch_id, start, start + NDJSON_CHUNK_LINES):
            if row.status == "invalid":
                listed.append({"index": row.index, "ok": False,
                               "errors": [{"field": f"items[{row.index}]",
                                           "error": row.error or "invalid"}]})
            else:
                listed.append({"index": row.index, "ok": True, "url": row.url})
    body = await _created(store, info, listed)
    return web.json_response(body, status=202 if info.prerender else 200,
                             headers={"Idempotent-Replayed": "true"})


async def _created(store: BatchStore, info: BatchInfo,
                   listed: list[dict[str, Any]]) -> dict[str, Any]:
    errors = await store.errors(info.id)
    base = f"/v1/batch/{info.id}"
    invalid = sum(1 for item in listed if not item["ok"])
    links = {"status_url": base, "results_url": f"{base}/results"}
    if info.prerender:
        links["zip_url"] = f"{base}/results.zip"
    return {**info.snapshot(errors), "valid": info.total - invalid, "invalid": invalid,
            **links, "items": listed}


async def post_batch(request: web.Request) -> web.StreamResponse:
    """POST /v1/batch: mint every item's URL now; with `prerender`, render in the background."""
    app = request.app
    settings = app[SETTINGS]
    store = app[BATCHES].store
    idempotency = _idempotency_key(request, app[API_STATE].keys)
    body = await read_json(request)
    errors = check_keys(body, {"template", "items", "output", "prerender", "webhook_url"}, "")
    template = template_of(request, body.get("template"))
    items = body.get("items")
    if not isinstance(items, list) or not items:
        errors.append(FieldError("items", "expected a non-empty array"))
    elif len(items) > settings.api.max_batch_items:
        raise TooLarge(f"items: more than {settings.api.max_batch_items} items "
                       "(api.max_batch_items)", field="items")
    output = body.get("output")
    if output is not None and not isinstance(output, dict):
        errors.append(FieldError("output", "expected an object"))
    prerender = body.get("prerender", False)
    if not isinstance(prerender, bool):
        errors.append(FieldError("prerender", "expected true or false"))
    webhook_url = body.get("webhook_url", "")
    if not isinstance(webhook_url, str):
        errors.append(FieldError("webhook_url", "expected a URL"))
    elif webhook_url and not settings.batch.webhook_secret:
        errors.append(FieldError("webhook_url", "webhooks are off on this server "
                                 "(batch.webhook_secret is not set)"))
    elif webhook_url:
        reason = check_url(app[FETCHER], webhook_url)
        if reason is not None:
            errors.append(FieldError("webhook_url", reason))
    if errors:
        raise InvalidBody(errors)
    assert isinstance(items, list) and isinstance(webhook_url, str)
    charge_batch(request, len(items))
    loop = asyncio.get_running_loop()
    minted = await loop.run_in_executor(mint_pool(request.app), _mint_all, template, items,
                                        output, settings)
    batch, listed = _new_batch(new_batch_id(), template, prerender, webhook_url, minted)
    if idempotency is not None:
        existing = await store.claim_key(idempotency, batch.id)
        if existing is not None:
            info = await _stored(store, existing)
            if info is not None:
                return await _replay(store, info)
            # The first POST never stored its batch (it failed midway): this one takes over.
            await store.bind_key(idempotency, batch.id)
    await store.create(batch, chunk_items=settings.batch.chunk_items)
    info = await store.info(batch.id)
    if info is None:
        raise Overloaded("the batch store lost the batch; retry")
    return web.json_response(await _created(store, info, listed),
                             status=202 if prerender else 200)


# --- reading and cancelling ------------------------------------------------------------------

async def _info(request: web.Request) -> BatchInfo:
    found = await request.app[BATCHES].store.info(request.match_info["id"])
    if found is None:
        raise UnknownBatch("no such batch")
    return found


async def get_batch(request: web.Request) -> web.StreamResponse:
    """GET /v1/batch/{id}: progress (done, failed, total, errors by index, rate, state)."""
    info = await _info(request)
    errors = await request.app[BATCHES].store.errors(info.id)
    return web.json_response(info.snapshot(errors), headers={"Cache-Control": "no-store"})


async def delete_batch(request: web.Request) -> web.StreamResponse:
    """DELETE /v1/batch/{id}: cancel a running batch (what is rendered stays rendered)."""
    store = request.app[BATCHES].store
    info = await _info(request)
    await store.cancel(info.id)
    info = await _info(request)
    return web.json_response(info.snapshot(await store.errors(info.id)),
                             headers={"Cache-Control": "no-store"})


def _line(row: Row) -> str:
    line: dict[str, Any] = {"index": row.index, "status": row.status, "url": row.url}
    if row.error is not None:
        line["error"] = row.error
    return json.dumps(line)


async def get_batch_results(request: web.Request) -> web.StreamResponse:
    """GET /v1/batch/{id}/results: one NDJSON line per item, in order."""
    info = await _info(request)
    store = request.app[BATCHES].store
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    for start in range(0, info.total, NDJSON_CHUNK_LINES):
        rows = await store.rows(info.id, start, start + NDJSON_CHUNK_LINES)
        await response.write(("\n".join(_line(r) for r in rows) + "\n").encode())
    await response.write_eof()
    return response


async def get_batch_zip(request: web.Request) -> web.StreamResponse:
    """GET /v1/batch/{id}/results.zip: every rendered item's image, streamed as a ZIP."""
    app = request.app
    info = await _info(request)
    if not info.prerender:
        raise BadRequest("results.zip needs a batch created with prerender")
    store = app[BATCHES].store
    width = len(str(max(info.total - 1, 0)))
    response = web.StreamResponse(headers={
        "Content-Type": "application/zip", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="batch-{info.id}.zip"'})
    await response.prepare(request)
    archive = ZipStream()
    count = await store.job_count(info.id)
    for start in range(0, count, ZIP_JOB_BLOCK):
        jobs = await store.jobs(info.id, start, start + ZIP_JOB_BLOCK)
        if not jobs:
            break
        # Jobs are in order of their first item: one read of that span has all their statuses.
        span = await store.rows(info.id, jobs[0].indexes[0], jobs[-1].indexes[0] + 1)
        rows = {r.index: r.status for r in span}
        for job in jobs:
            if rows.get(job.indexes[0]) != "rendered":
                continue
            try:
                served, fmt = await _serve_job(app, info, job)
            except ProxyError:
                continue  # it rendered once; a failure now leaves it out, listed in results
            for index in job.indexes:
                await response.write(archive.add(f"{index:0{width}d}.{fmt}",
                                                 served.image.data))
    await response.write(archive.finish())
    await response.write_eof()
    return response

