"""Per-API-key quotas: token buckets, so one leaked key cannot take the service's capacity.

A bucket holds up to `per_window` tokens and refills continuously at `per_window` per
`window_s`: a key may burst to its whole window's share, then proceeds at the steady rate.
Pure and synchronous (the event loop is its only caller); the clock is injectable for tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from .errors import QuotaExceeded


@dataclass
class _Bucket:
    tokens: float
    at: float


class KeyQuota:
    """One kind of work (renders, batch items) metered per key name."""

    def __init__(self, what: str, per_window: int, window_s: float, setting: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.per_window = per_window
        self.rate = per_window / window_s
        self.setting = setting
        self.clock = clock
        # Keys are configured, so few; the bound only guards against a bug feeding names.
        self._buckets: LRUCache[str, _Bucket] = LRUCache(maxsize=10_000)
        self.refused = 0

    def charge(self, key: str, amount: int = 1) -> None:
        """Take `amount` tokens for `key`, or raise QuotaExceeded (nothing taken)."""
        if self.per_window <= 0:
            return  # 0 turns the quota off
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.per_window), now)
        bucket.tokens = min(float(self.per_window), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if amount > self.per_window:
            self.refused += 1
            raise QuotaExceeded(f"{amount} {self.what} exceed this key's quota of "
                                f"{self.per_window} ({self.setting})")
        if bucket.tokens < amount:
            self.refused += 1
            wait_s = math.ceil((amount - bucket.tokens) / self.rate)
            raise QuotaExceeded(f"this key's {self.what} quota is used up; retry in "
                                f"{wait_s} s ({self.setting})", retry_after_s=wait_s)
        bucket.tokens -= amount
