"""The bounded-concurrency batch runner: order-free counting, bounds, laziness, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from proxy.batch import Progress, run_batch
from proxy.errors import InvalidValue


async def test_counts_failures_by_index_and_reaches_total() -> None:
    seen: list[tuple[int, str | None]] = []

    async def work(index: int, item: int) -> None:
        await asyncio.sleep(0)
        if item % 10 == 3:
            raise InvalidValue(f"bad {item}", field="name")

    progress = Progress(total=100)
    await run_batch(((i, i) for i in range(100)), work, progress, concurrency=4,
                    on_item=lambda i, e: seen.append((i, e)))
    assert (progress.done, progress.failed, progress.state) == (90, 10, "done")
    assert progress.errors == {i: f"bad {i}" for i in range(3, 100, 10)}
    assert sorted(i for i, _ in seen) == list(range(100))
    snapshot = progress.snapshot()
    assert snapshot["errors"]["3"] == "bad 3" and snapshot["rate_per_s"] > 0


async def test_unexpected_errors_do_not_leak_their_text() -> None:
    async def work(index: int, item: int) -> None:
        raise RuntimeError("/secret/path exploded")

    progress = Progress(total=1)
    await run_batch([(0, 0)], work, progress, concurrency=1)
    assert progress.errors == {0: "internal error"}


async def test_never_more_than_concurrency_in_flight_and_items_pulled_lazily() -> None:
    in_flight = peak = pulled = 0

    def items() -> Iterator[tuple[int, int]]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            # Lazy: the runner holds at most `concurrency` items it has not finished.
            assert pulled - progress.finished <= 3
            yield i, i

    async def work(index: int, item: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1

    progress = Progress(total=10_000)
    await run_batch(items(), work, progress, concurrency=3)
    assert peak == 3 and progress.done == 10_000


async def test_shared_limiter_bounds_two_runs_together_and_admit_is_awaited() -> None:
    limiter = asyncio.Semaphore(2)
    in_flight = peak = admitted = 0

    async def admit() -> None:
        nonlocal admitted
        admitted += 1

    async def work(index: int, item: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1

    runs = [run_batch(((i, i) for i in range(50)), work, Progress(total=50), concurrency=4,
                      limiter=limiter, admit=admit) for _ in range(2)]
    await asyncio.gather(*runs)
    assert peak == 2 and admitted == 100


async def test_cancel_stops_workers_and_marks_the_run() -> None:
    started = asyncio.Event()

    async def work(index: int, item: int) -> None:
        started.set()
        await asyncio.sleep(10)

    progress = Progress(total=5)
    task = asyncio.create_task(run_batch(((i, i) for i in range(5)), work, progress,
                                         concurrency=2))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert progress.state == "cancelled" and progress.finished == 0
