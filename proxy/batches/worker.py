"""BatchWorker: this host's share of every batch, taken a chunk at a time from the store.

Each of `concurrency` loops waits for an idle render thread (`admit`), leases a chunk, and
renders its still-pending jobs one by one, recording each as it finishes; a heartbeat keeps
the lease while it works. If the host dies, the lease runs out and another host takes the
chunk; what this host recorded is skipped, and what it stored but did not record is a cache
hit there when the disk tier is shared (the stored image is the record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cachetools import LRUCache

from ..batch import public_reason
from ..errors import ProxyError
from .model import FINISHED, STOPPED, BatchInfo, Chunk, Job
from .store import BatchStore
from .webhook import WebhookSender

log = logging.getLogger("picstream.batch")

RenderJob = Callable[[BatchInfo, Job], Awaitable[str]]
"""Render (or find) one job's image; returns the cache tier: render, memory or disk."""

# After a store failure (Redis restarting), wait this long before asking again.
RETRY_S = 0.5
# How often an idle host looks for a due webhook.
HOOK_POLL_S = 0.25


@dataclass
class BatchWorker:
    """Runs this host's chunk loops and webhook loop until cancelled."""

    store: BatchStore
    render: RenderJob
    admit: Callable[[], Awaitable[None]]
    concurrency: int
    visibility_timeout_s: float
    webhooks: WebhookSender | None = None
    webhook_attempts: int = 1
    webhook_backoff_s: float = 1.0
    # This host's share, for /metrics: chunks being worked, items taken, done and failed.
    chunks_in_flight: int = 0
    items_taken: int = 0
    items_done: int = 0
    items_failed: int = 0
    _stopping: bool = False
    _infos: LRUCache[str, BatchInfo] = field(default_factory=lambda: LRUCache(maxsize=256))

    def stop(self) -> None:
        """Ask every loop to end after its current step.

        Cancelling alone is not enough: a cancellation that lands inside a redis-py call
        can be swallowed there (seen with redis 8.1), and the loop would go on.
        """
        self._stopping = True

    async def run(self) -> None:
        """Work until stopped (or cancelled)."""
        loops = [self._chunks() for _ in range(max(1, self.concurrency))]
        if self.webhooks is not None:
            loops.append(self._hooks())
        await asyncio.gather(*loops)

    async def _chunks(self) -> None:
        while not self._stopping:
            try:
                await self.admit()
                chunk = await self.store.take()
                if chunk is None:
                    await self.store.wait_for_work(1.0)
                    continue
                await self._work(chunk)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: keep the loop, try again soon
                log.warning("batch worker: %s", public_reason(exc),
                            exc_info=not isinstance(exc, ProxyError))
                await asyncio.sleep(RETRY_S)

    async def _info(self, batch_id: str) -> BatchInfo | None:
        info = self._infos.get(batch_id)
        if info is None:
            info = await self.store.info(batch_id)
            if info is not None:
                self._infos[batch_id] = info
        return info

    async def _work(self, chunk: Chunk) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(chunk))
        self.chunks_in_flight += 1
        rendered: list[int] = []
        cached: list[int] = []
        failed: list[int] = []
        try:
            info = await self._info(chunk.batch_id)
            jobs = [] if info is None else await self.store.pending_jobs(chunk)
            self.items_taken += sum(len(job.indexes) for job in jobs)
            for job in jobs:
                assert info is not None
                await self.admit()
                error: str | None = None
                try:
                    tier = await self.render(info, job)
                    (rendered if tier == "render" else cached).append(job.indexes[0])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = public_reason(exc)
                    failed.append(job.indexes[0])
                    if not isinstance(exc, ProxyError):
                        log.exception("batch %s item %d failed", info.id, job.indexes[0])
                if error is None:
                    self.items_done += len(job.indexes)
                else:
                    self.items_failed += len(job.indexes)
                recorded = await self.store.record(info.id, job.indexes, error)
                if recorded == FINISHED:
                    log.info("batch finished", extra={"fields": {"batch": info.id}})
                elif recorded == STOPPED:
                    break  # cancelled meanwhile: the rest of the chunk is not rendered
            await self.store.release(chunk)
        finally:
            self.chunks_in_flight -= 1
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if rendered or cached or failed:
                # One line per chunk: which first indexes this host rendered or found stored
                # (the multi-host test reads these to prove nothing was rendered twice).
                log.info("batch chunk", extra={"fields": {
                    "batch": chunk.batch_id, "chunk": chunk.token, "rendered": rendered,
                    "cached": cached, "failed": failed}})

    async def _heartbeat(self, chunk: Chunk) -> None:
        while True:
            await asyncio.sleep(self.visibility_timeout_s / 3)
            with contextlib.suppress(ProxyError):
                await self.store.extend(chunk)

    async def _hooks(self) -> None:
        assert self.webhooks is not None
        while not self._stopping:
            try:
                taken = await self.store.take_webhook()
                if taken is None:
                    await asyncio.sleep(HOOK_POLL_S)
                    continue
                batch_id, attempt = taken
                info = await self.store.info(batch_id)
                if info is None:
                    continue
                outcome = await self.webhooks.deliver(info, attempt)
                retry: float | None = None
                if outcome is False and attempt < self.webhook_attempts:
                    retry = self.webhook_backoff_s * 2 ** (attempt - 1)
                await self.store.webhook_result(batch_id, delivered=outcome is True,
                                                retry_in_s=retry)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("batch webhooks: %s", public_reason(exc),
                            exc_info=not isinstance(exc, ProxyError))
                await asyncio.sleep(RETRY_S)
