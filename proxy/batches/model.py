"""What a batch is, whichever store keeps it: its record, its jobs, its per-item statuses."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# One letter per item in the stores (a 10,000-item batch is a 10 kB string in Redis).
STATUS_NAMES = {"p": "pending", "r": "rendered", "f": "failed", "i": "invalid", "m": "minted"}
PENDING, RENDERED, FAILED, INVALID, MINTED = "p", "r", "f", "i", "m"
# What recording an item did (BatchStore.record).
UNCHANGED, RECORDED, FINISHED, STOPPED = 0, 1, 2, -1
# Errors kept per batch for the progress document; past this, only the count grows.
MAX_ERRORS_KEPT = 1000


@dataclass(frozen=True)
class Job:
    """One distinct render of a batch: identical items share it (`indexes`)."""

    indexes: tuple[int, ...]
    variables: Any
    output: Any

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"i": list(self.indexes), "v": self.variables, "o": self.output}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        """Back from the stored form."""
        return cls(tuple(int(i) for i in data["i"]), data["v"], data["o"])


@dataclass(frozen=True)
class NewBatch:
    """A batch as POSTed, minted and validated: what a store keeps."""

    id: str
    template: str
    version: str
    prerender: bool
    urls: list[str | None]
    status: str                       # one letter per item (PENDING, INVALID or MINTED)
    errors: dict[int, str]
    jobs: list[Job]
    webhook_url: str = ""
    created_at: float = field(default_factory=time.time)

    @property
    def total(self) -> int:
        """Items in the batch."""
        return len(self.urls)


@dataclass(frozen=True)
class BatchInfo:
    """A batch's record as any host reads it back: counters and timestamps (wall clock)."""

    id: str
    template: str
    version: str
    prerender: bool
    total: int
    done: int
    failed: int
    state: str                        # running | done | cancelled
    created_at: float
    finished_at: float | None
    webhook_url: str
    webhook_state: str                # "" (none) | pending | delivered | failed

    @property
    def finished(self) -> bool:
        """True once nothing more will change."""
        return self.state in ("done", "cancelled")

    def snapshot(self, errors: dict[int, str], now: float | None = None) -> dict[str, Any]:
        """Progress as served by `GET /v1/batch/{id}`."""
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        elapsed = max(end - self.created_at, 0.0)
        finished = self.done + self.failed
        rate = finished / elapsed if elapsed > 0 else 0.0
        eta = (self.total - finished) / rate if rate > 0 else None
        return {"id": self.id, "template": self.template, "version": self.version,
                "prerender": self.prerender, "state": self.state, "total": self.total,
                "done": self.done, "failed": self.failed, "elapsed_s": round(elapsed, 3),
                "rate_per_s": round(rate, 2), "eta_s": None if eta is None else round(eta, 2),
                "errors": {str(i): e for i, e in sorted(errors.items())},
                **({"webhook": self.webhook_state} if self.webhook_url else {})}


@dataclass(frozen=True)
class Chunk:
    """A leased slice `[start, stop)` of a batch's jobs; `token` names the lease."""

    batch_id: str
    start: int
    stop: int

    @property
    def token(self) -> str:
        """The lease's name in the store."""
        return f"{self.batch_id}:{self.start}:{self.stop}"

    @classmethod
    def parse(cls, token: str) -> Chunk:
        """Back from `token`."""
        batch_id, start, stop = token.rsplit(":", 2)
        return cls(batch_id, int(start), int(stop))


@dataclass(frozen=True)
class Row:
    """One item as the results list it."""

    index: int
    status: str
    url: str | None
    error: str | None
