"""The batch API: mint every item's URL at once, prerender in the background, report progress.

Background renders go through the same ImageService as live traffic, but only into idle render
threads (the render gate is polled before each item), so a live miss never queues behind a
batch; results are URLs and statuses only, the rendered bytes live in the caches.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..batch import Progress, run_batch
from ..config import Settings
from ..errors import FieldError, InvalidBody, Overloaded, TooLarge, UnknownBatch
from ..template.model import Template
from .api_body import Minted, check_keys, mint, read_json, template_of
from .auth import ApiKey
from .keys import SERVICE, SETTINGS
from .service import ImageService

# Finished batches kept for `GET /v1/batch/{id}`; the oldest finished one is dropped first.
MAX_BATCHES = 64
# A render refused by a full gate (live traffic won the race) is retried, not failed.
OVERLOADED_RETRIES = 200
OVERLOADED_WAIT_S = 0.05
# How often a waiting prerender looks at the render gate again.
ADMIT_POLL_S = 0.002
NDJSON_CHUNK_LINES = 500


@dataclass
class Batch:
    """One batch: URLs and per-item status only (rendered bytes live in the caches)."""

    id: str
    template: str
    version: str
    prerender: bool
    urls: list[str | None]
    status: list[str]                 # pending | rendered | failed | invalid | minted
    errors: dict[int, str]
    progress: Progress
    created_at: float = field(default_factory=time.time)
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        """True once nothing more will change."""
        return self.progress.state in ("done", "cancelled")

    def summary(self) -> dict[str, Any]:
        """Progress of the batch as served by `GET /v1/batch/{id}`."""
        return {"id": self.id, "template": self.template, "version": self.version,
                "prerender": self.prerender, **self.progress.snapshot(),
                "errors": {str(i): e for i, e in sorted(self.errors.items())[:1000]}}


@dataclass
class ApiState:
    """Per-app API state: the parsed keys, the batches and the prerender limiter."""

    keys: tuple[ApiKey, ...]
    limiter: asyncio.Semaphore
    batches: OrderedDict[str, Batch] = field(default_factory=OrderedDict)

    def add(self, batch: Batch) -> None:
        """Keep `batch`, dropping the oldest finished batches beyond MAX_BATCHES."""
        while len(self.batches) >= MAX_BATCHES:
            old = next((b for b in self.batches.values() if b.finished), None)
            if old is None:
                raise Overloaded("too many batches in progress; retry later")
            del self.batches[old.id]
        self.batches[batch.id] = batch


API_STATE = web.AppKey("api_state_v1", ApiState)


def _mint_all(template: Template, items: list[Any], output: object,
              settings: Settings) -> list[Minted | list[FieldError]]:
    """Validate every batch item (run in a thread: 10,000 items take a moment of CPU)."""
    out: list[Minted | list[FieldError]] = []
    base = output if isinstance(output, dict) else {}
    for index, item in enumerate(items):
        prefix = f"items[{index}]."
        if not isinstance(item, dict):
            out.append([FieldError(f"items[{index}]", "expected an object")])
            continue
        unknown = check_keys(item, {"variables", "output"}, prefix)
        own = item.get("output")
        if own is not None and not isinstance(own, dict):
            out.append([*unknown, FieldError(prefix + "output", "expected an object")])
            continue
        merged = {**base, **(own or {})}
        result = mint(template, item.get("variables"), merged, settings, prefix)
        if unknown:
            result = unknown + (result if isinstance(result, list) else [])
        out.append(result)
    return out


async def post_batch(request: web.Request) -> web.StreamResponse:
    """POST /v1/batch: mint every item's URL now; with `prerender`, render in the background."""
    app = request.app
    settings = app[SETTINGS]
    state = app[API_STATE]
    body = await read_json(request)
    errors = check_keys(body, {"template", "items", "output", "prerender"}, "")
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
    if errors:
        raise InvalidBody(errors)
    assert isinstance(items, list)
    loop = asyncio.get_running_loop()
    results = await loop.run_in_executor(None, _mint_all, template, items, output, settings)
    total = len(results)
    batch = Batch(id=secrets.token_urlsafe(12), template=template.name,
                  version=template.version, prerender=prerender, urls=[None] * total,
                  status=["pending"] * total, errors={}, progress=Progress(total=total))
    jobs: list[Minted | None] = [None] * total
    listed: list[dict[str, Any]] = []
    for index, result in enumerate(results):
        if isinstance(result, list):
            reason = "; ".join(f"{e.field}: {e.error}" for e in result[:10])
            batch.status[index] = "invalid"
            batch.errors[index] = reason
            batch.progress.record(index, reason)
            listed.append({"index": index, "ok": False,
                           "errors": [e.to_json() for e in result[:10]]})
            continue
        batch.urls[index] = result.url
        listed.append({"index": index, "ok": True, "url": result.url})
        if prerender:
            jobs[index] = result
        else:
            batch.status[index] = "minted"
            batch.progress.record(index, None)
    state.add(batch)
    if prerender:
        batch.task = asyncio.create_task(_prerender(app, batch, template, jobs))
    else:
        batch.progress.state = "done"
        batch.progress.finished_at = time.monotonic()
    base = f"/v1/batch/{batch.id}"
    return web.json_response({
        **batch.summary(), "valid": total - len(batch.errors), "invalid": len(batch.errors),
        "status_url": base, "results_url": f"{base}/results", "items": listed,
    }, status=202 if prerender else 200)


async def _prerender(app: web.Application, batch: Batch, template: Template,
                     jobs: list[Minted | None]) -> None:
    """Render a batch's valid items at a lower priority than live requests."""
    state = app[API_STATE]
    service: ImageService = app[SERVICE]
    threads = app[SETTINGS].server.render_thread_count

    async def admit() -> None:
        # Lower priority: start a batch render only while a render thread is idle, so a live
        # miss waits at most for one batch render already running, never for a queue of them.
        while service.gate.in_flight >= threads:
            await asyncio.sleep(ADMIT_POLL_S)

    async def work(index: int, job: Minted) -> None:
        jobs[index] = None  # the runner holds the job now; drop the batch's reference
        for _ in range(OVERLOADED_RETRIES):
            try:
                await service.get(job.spec, template, job.values, job.fmt)
                return
            except Overloaded:
                await asyncio.sleep(OVERLOADED_WAIT_S)
                await admit()
        raise Overloaded("the server stayed overloaded")

    def pending() -> Iterator[tuple[int, Minted]]:
        for index, job in enumerate(jobs):
            if job is not None:
                yield index, job

    def on_item(index: int, error: str | None) -> None:
        batch.status[index] = "rendered" if error is None else "failed"
        if error is not None:
            batch.errors[index] = error

    await run_batch(pending(), work, batch.progress,
                    concurrency=app[SETTINGS].api.batch_concurrency, limiter=state.limiter,
                    admit=admit, on_item=on_item)


def _batch(request: web.Request) -> Batch:
    found = request.app[API_STATE].batches.get(request.match_info["id"])
    if found is None:
        raise UnknownBatch("no such batch")
    return found


async def get_batch(request: web.Request) -> web.StreamResponse:
    """GET /v1/batch/{id}: progress (done, failed, total, errors by index, rate, state)."""
    return web.json_response(_batch(request).summary(), headers={"Cache-Control": "no-store"})


async def get_batch_results(request: web.Request) -> web.StreamResponse:
    """GET /v1/batch/{id}/results: one NDJSON line per item, in order."""
    batch = _batch(request)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    lines: list[str] = []
    for index, (url, status) in enumerate(zip(batch.urls, batch.status, strict=True)):
        line: dict[str, Any] = {"index": index, "status": status, "url": url}
        if index in batch.errors:
            line["error"] = batch.errors[index]
        lines.append(json.dumps(line))
        if len(lines) >= NDJSON_CHUNK_LINES:
            await response.write(("\n".join(lines) + "\n").encode())
            lines.clear()
    if lines:
        await response.write(("\n".join(lines) + "\n").encode())
    await response.write_eof()
    return response
