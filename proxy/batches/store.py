"""BatchStore: what every host asks of the place batches live; the embedded implementation.

Two stores answer the same questions: `MemoryStore` (this module, the default: one process,
nothing to run) and `RedisStore` (redis_store.py, `batch.redis_url`: any host answers any
batch). Work is handed out as chunks of a batch's jobs under a lease: a chunk not finished
within the visibility timeout is handed out again, and an item already recorded is never
handed out twice, so a host that dies loses nothing and repeats nothing it recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Protocol

from ..errors import Overloaded
from .model import (
    FAILED,
    FINISHED,
    INVALID,
    MAX_ERRORS_KEPT,
    MINTED,
    PENDING,
    RECORDED,
    RENDERED,
    STATUS_NAMES,
    STOPPED,
    UNCHANGED,
    BatchInfo,
    Chunk,
    Job,
    NewBatch,
    Row,
)

# Finished batches kept in memory for `GET /v1/batch/{id}`; the oldest finished goes first.
MAX_BATCHES = 64


class BatchStore(Protocol):
    """Where batches live; every method is safe to call from any host at any time."""

    async def create(self, batch: NewBatch, *, chunk_items: int) -> None:
        """Keep `batch` and queue its jobs in chunks of `chunk_items`."""

    async def claim_key(self, key: str, batch_id: str) -> str | None:
        """Bind an Idempotency-Key to `batch_id`; the batch it already names, or None."""

    async def bind_key(self, key: str, batch_id: str) -> None:
        """Point an Idempotency-Key at `batch_id` whatever it named (its batch was never stored)."""

    async def info(self, batch_id: str) -> BatchInfo | None:
        """The batch's record, or None when unknown (or expired)."""

    async def errors(self, batch_id: str) -> dict[int, str]:
        """Reasons by item index (at most MAX_ERRORS_KEPT)."""

    async def rows(self, batch_id: str, start: int, stop: int) -> list[Row]:
        """Items `[start, stop)` as the results list them."""

    async def jobs(self, batch_id: str, start: int, stop: int) -> list[Job]:
        """Jobs `[start, stop)` of the batch, pending or not."""

    async def job_count(self, batch_id: str) -> int:
        """How many jobs the batch has."""

    async def take(self) -> Chunk | None:
        """Lease the next chunk of any running batch (expired leases first), or None."""

    async def pending_jobs(self, chunk: Chunk) -> list[Job]:
        """The chunk's jobs not yet recorded; none once the batch is cancelled or gone."""

    async def record(self, batch_id: str, indexes: tuple[int, ...], error: str | None) -> int:
        """Record still-pending items of a running batch as rendered (or failed).

        FINISHED when this finished the batch, RECORDED, UNCHANGED (recorded before), or
        STOPPED (the batch is cancelled, finished or gone).
        """

    async def extend(self, chunk: Chunk) -> None:
        """Push the chunk's lease a visibility timeout further."""

    async def release(self, chunk: Chunk) -> None:
        """Drop the chunk's lease: its jobs are all recorded."""

    async def cancel(self, batch_id: str) -> bool:
        """Stop a running batch; True when this call stopped it."""

    async def take_webhook(self) -> tuple[str, int] | None:
        """Lease a due webhook: (batch id, attempt number), or None."""

    async def webhook_result(self, batch_id: str, *, delivered: bool,
                             retry_in_s: float | None) -> None:
        """After an attempt: delivered, retried in `retry_in_s`, or (None) given up."""

    async def wait_for_work(self, timeout_s: float) -> None:
        """Sleep until work may be there (at most `timeout_s`)."""

    async def close(self) -> None:
        """Release connections."""


@dataclass
class _Kept:
    info: BatchInfo
    urls: list[str | None]
    status: bytearray
    errors: dict[int, str]
    jobs: list[Job]
    webhook_attempts: int = 0


@dataclass
class MemoryStore:
    """The embedded store: this process's memory, as before Redis (lost on restart)."""

    visibility_timeout_s: float
    batches: OrderedDict[str, _Kept] = field(default_factory=OrderedDict)
    keys: dict[str, str] = field(default_factory=dict)
    queue: deque[Chunk] = field(default_factory=deque)
    leases: dict[str, tuple[Chunk, float]] = field(default_factory=dict)
    hooks: dict[str, float] = field(default_factory=dict)     # batch id -> due (monotonic)
    work: asyncio.Event = field(default_factory=asyncio.Event)

    async def create(self, batch: NewBatch, *, chunk_items: int) -> None:
        """Keep `batch`, dropping the oldest finished batches beyond MAX_BATCHES."""
        while len(self.batches) >= MAX_BATCHES:
            old = next((k for k, b in self.batches.items() if b.info.finished), None)
            if old is None:
                raise Overloaded("too many batches in progress; retry later")
            del self.batches[old]
            for key in [k for k, v in self.keys.items() if v == old]:
                del self.keys[key]
        status = bytearray(batch.status.encode("ascii"))
        done = batch.status.count(MINTED)
        failed = batch.status.count(INVALID)
        pending = status.count(PENDING.encode())
        state = "running" if pending else "done"
        info = BatchInfo(id=batch.id, template=batch.template, version=batch.version,
                         prerender=batch.prerender, total=batch.total, done=done,
                         failed=failed, state=state, created_at=batch.created_at,
                         finished_at=None if pending else time.time(),
                         webhook_url=batch.webhook_url,
                         webhook_state="pending" if batch.webhook_url else "")
        self.batches[batch.id] = _Kept(info, list(batch.urls), status, dict(batch.errors),
                                       list(batch.jobs))
        for start in range(0, len(batch.jobs), chunk_items):
            self.queue.append(Chunk(batch.id, start, min(start + chunk_items, len(batch.jobs))))
        if not pending and batch.webhook_url:
            self.hooks[batch.id] = 0.0
        self.work.set()

    async def claim_key(self, key: str, batch_id: str) -> str | None:
        """Bind an Idempotency-Key to `batch_id`; the batch it already names, or None."""
        existing = self.keys.get(key)
        if existing is not None and existing in self.batches:
            return existing
        self.keys[key] = batch_id
        return None

    async def bind_key(self, key: str, batch_id: str) -> None:
        """Point the key at `batch_id`."""
        self.keys[key] = batch_id

    async def info(self, batch_id: str) -> BatchInfo | None:
        """The batch's record, or None."""
        kept = self.batches.get(batch_id)
        return None if kept is None else kept.info

    async def errors(self, batch_id: str) -> dict[int, str]:
        """Reasons by item index."""
        kept = self.batches.get(batch_id)
        return {} if kept is None else dict(kept.errors)

    async def rows(self, batch_id: str, start: int, stop: int) -> list[Row]:
        """Items `[start, stop)` as the results list them."""
        kept = self.batches.get(batch_id)
        if kept is None:
            return []
        return [Row(i, STATUS_NAMES[chr(kept.status[i])], kept.urls[i], kept.errors.get(i))
                for i in range(start, min(stop, len(kept.urls)))]

    async def jobs(self, batch_id: str, start: int, stop: int) -> list[Job]:
        """Jobs `[start, stop)`."""
        kept = self.batches.get(batch_id)
        return [] if kept is None else kept.jobs[start:stop]

    async def job_count(self, batch_id: str) -> int:
        """How many jobs the batch has."""
        kept = self.batches.get(batch_id)
        return 0 if kept is None else len(kept.jobs)

    async def take(self) -> Chunk | None:
        """Lease the next chunk (expired leases first), or None."""
        now = time.monotonic()
        for token, (chunk, due) in list(self.leases.items()):
            if due <= now:
                del self.leases[token]
                self.queue.appendleft(chunk)
        if not self.queue:
            self.work.clear()
            return None
        chunk = self.queue.popleft()
        self.leases[chunk.token] = (chunk, now + self.visibility_timeout_s)
        return chunk

    async def pending_jobs(self, chunk: Chunk) -> list[Job]:
        """The chunk's jobs not yet recorded."""
        kept = self.batches.get(chunk.batch_id)
        if kept is None or kept.info.state != "running":
            return []
        pending = ord(PENDING)
        return [job for job in kept.jobs[chunk.start:chunk.stop]
                if kept.status[job.indexes[0]] == pending]

    async def record(self, batch_id: str, indexes: tuple[int, ...], error: str | None) -> int:
        """Record items (see BatchStore.record)."""
        kept = self.batches.get(batch_id)
        if kept is None or kept.info.state != "running":
            return STOPPED
        letter = ord(RENDERED if error is None else FAILED)
        changed = 0
        for index in indexes:
            if kept.status[index] == ord(PENDING):
                kept.status[index] = letter
                changed += 1
                if error is not None and len(kept.errors) < MAX_ERRORS_KEPT:
                    kept.errors[index] = error
        if not changed:
            return UNCHANGED
        info = kept.info
        info = replace(info, done=info.done + (changed if error is None else 0),
                       failed=info.failed + (changed if error is not None else 0))
        finished = info.state == "running" and info.done + info.failed >= info.total
        if finished:
            info = replace(info, state="done", finished_at=time.time())
            if info.webhook_url:
                self.hooks[batch_id] = 0.0
        kept.info = info
        return FINISHED if finished else RECORDED

    async def extend(self, chunk: Chunk) -> None:
        """Push the lease further."""
        if chunk.token in self.leases:
            self.leases[chunk.token] = (chunk, time.monotonic() + self.visibility_timeout_s)

    async def release(self, chunk: Chunk) -> None:
        """Drop the lease."""
        self.leases.pop(chunk.token, None)

    async def cancel(self, batch_id: str) -> bool:
        """Stop a running batch."""
        kept = self.batches.get(batch_id)
        if kept is None or kept.info.state != "running":
            return False
        kept.info = replace(kept.info, state="cancelled", finished_at=time.time())
        if kept.info.webhook_url:
            self.hooks[batch_id] = 0.0
        return True

    async def take_webhook(self) -> tuple[str, int] | None:
        """Lease a due webhook."""
        now = time.monotonic()
        for batch_id, due in self.hooks.items():
            if due <= now and batch_id in self.batches:
                self.hooks[batch_id] = now + self.visibility_timeout_s
                kept = self.batches[batch_id]
                kept.webhook_attempts += 1
                return batch_id, kept.webhook_attempts
        return None

    async def webhook_result(self, batch_id: str, *, delivered: bool,
                             retry_in_s: float | None) -> None:
        """After an attempt: delivered, retried later, or given up."""
        kept = self.batches.get(batch_id)
        if delivered or retry_in_s is None or kept is None:
            self.hooks.pop(batch_id, None)
            if kept is not None:
                kept.info = replace(kept.info,
                                    webhook_state="delivered" if delivered else "failed")
            return
        self.hooks[batch_id] = time.monotonic() + retry_in_s

    async def wait_for_work(self, timeout_s: float) -> None:
        """Until a batch is created (or `timeout_s`)."""
        # asyncio.wait, not wait_for: it never cancels on timeout, and cancelling us
        # cancels the waiter in `finally` (a wait_for here hung a shutdown on 3.11).
        waiter = asyncio.ensure_future(self.work.wait())
        try:
            await asyncio.wait({waiter}, timeout=timeout_s)
        finally:
            waiter.cancel()

    async def close(self) -> None:
        """Nothing to release."""
