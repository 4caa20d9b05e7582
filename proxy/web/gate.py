"""RenderGate: a bounded render queue; past it, misses get 503 while hits keep flowing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import Overloaded


class RenderGate:
    """Counts renders waiting or running; `slot()` refuses past `max_queued`."""

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self.in_flight = 0
        self.rejected = 0

    def check(self) -> None:
        """Raise Overloaded if a new render would not get a place now."""
        if self.in_flight >= self.max_queued:
            self.rejected += 1
            raise Overloaded("too many renders in progress; retry shortly")

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one place in the queue for the duration of a render."""
        if self.in_flight >= self.max_queued:
            self.rejected += 1
            raise Overloaded("too many renders in progress; retry shortly")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
