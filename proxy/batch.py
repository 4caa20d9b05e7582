"""Bounded-concurrency batch runner with progress: shared by `POST /v1/batch` and the CLI.

Items are pulled lazily from an iterator by a fixed number of worker tasks, so a batch of
10,000 never holds more than `concurrency` items in flight (the rest is never materialised
here); results are reported per index through callbacks, never kept as bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ProxyError

T = TypeVar("T")
log = logging.getLogger("picstream.batch")

# Errors kept per batch for the progress document; past this, only the count grows.
MAX_ERRORS_KEPT = 1000


@dataclass
class Progress:
    """Counters of one batch run; `snapshot()` is the JSON of `GET /v1/batch/{id}`."""

    total: int
    done: int = 0
    failed: int = 0
    state: str = "queued"            # queued | running | done | cancelled
    errors: dict[int, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None

    def record(self, index: int, error: str | None) -> None:
        """Count one finished item (failed when `error` is given)."""
        if error is None:
            self.done += 1
            return
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors[index] = error

    @property
    def finished(self) -> int:
        """Items done or failed."""
        return self.done + self.failed

    @property
    def elapsed_s(self) -> float:
        """Seconds since the start (frozen once finished)."""
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return max(end - self.started_at, 0.0)

    @property
    def rate_per_s(self) -> float:
        """Items finished per second so far."""
        elapsed = self.elapsed_s
        return self.finished / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate, or None before the first item."""
        rate = self.rate_per_s
        if rate <= 0:
            return None
        return (self.total - self.finished) / rate

    def snapshot(self) -> dict[str, Any]:
        """Progress as JSON-ready data (errors keyed by index as strings, per JSON)."""
        eta = self.eta_s
        return {
            "state": self.state, "total": self.total, "done": self.done,
            "failed": self.failed, "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate_per_s, 2),
            "eta_s": None if eta is None else round(eta, 2),
            "errors": {str(i): e for i, e in sorted(self.errors.items())},
        }


def public_reason(error: BaseException) -> str:
    """What a client may read about a failed item: ProxyError's public text, else generic."""
    if isinstance(error, ProxyError):
        return error.public
    return "internal error"


async def run_batch(
    items: Iterable[tuple[int, T]],
    work: Callable[[int, T], Awaitable[None]],
    progress: Progress,
    *,
    concurrency: int,
    limiter: asyncio.Semaphore | None = None,
    admit: Callable[[], Awaitable[None]] | None = None,
    on_item: Callable[[int, str | None], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    describe: Callable[[BaseException], str] = public_reason,
) -> Progress:
    """Run `work(index, item)` over `items` with at most `concurrency` in flight.

    `limiter` is an extra semaphore shared between runs (the app's, so two batches do not
    double the load); `admit` is awaited before each item and may delay it (a priority gate).
    A failing item is recorded and the run goes on; cancelling the run stops every worker.
    """
    iterator: Iterator[tuple[int, T]] = iter(items)
    progress.state = "running"

    async def one(index: int, item: T) -> None:
        if admit is not None:
            await admit()
        error: str | None = None
        try:
            await work(index, item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = describe(exc)
            if not isinstance(exc, ProxyError):
                log.exception("batch item %d failed", index)
        progress.record(index, error)
        if on_item is not None:
            on_item(index, error)
        if on_progress is not None:
            on_progress(progress)

    async def worker() -> None:
        # Pulling from one shared iterator is safe: next() never awaits, so two workers
        # cannot interleave inside it.
        for index, item in iterator:
            if limiter is None:
                await one(index, item)
            else:
                async with limiter:
                    await one(index, item)
            # Yield between items even when work finished synchronously (a cache hit), so a
            # long batch never holds the event loop from live requests.
            await asyncio.sleep(0)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        progress.state = "cancelled"
        progress.finished_at = time.monotonic()
        raise
    progress.state = "done"
    progress.finished_at = time.monotonic()
    if on_progress is not None:
        on_progress(progress)
    return progress
