"""RenderGate: a bounded render queue; past it, misses get 503 while hits keep flowing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from ..errors import Overloaded

T = TypeVar("T")


class RenderGate:
    """Counts renders waiting or running; `admit()` refuses past `max_queued`.

    A place is held until the render's thread has really ended, not until its request gave
    up: a render past its deadline still occupies a pool thread, and counting it as free would
    let readiness and the queue promise work the pool cannot start.
    """

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self.in_flight = 0
        self.rejected = 0

    def check(self) -> None:
        """Raise Overloaded if a new render would not get a place now."""
        if self.in_flight >= self.max_queued:
            self.rejected += 1
            raise Overloaded("too many renders in progress; retry shortly")

    def admit(self, submit: Callable[[], asyncio.Future[T]]) -> asyncio.Future[T]:
        """Submit a render if there is a place; the place is held until its future is done."""
        self.check()
        future = submit()
        self.in_flight += 1
        future.add_done_callback(self._release)
        return future

    def _release(self, future: asyncio.Future[T]) -> None:
        self.in_flight -= 1
        if not future.cancelled():
            # Retrieved here so a render whose request stopped waiting (a timeout already
            # answered) is not logged again as "exception never retrieved".
            future.exception()
