"""Per-key token buckets: a burst up to the window's share, then the steady rate, per key."""

from __future__ import annotations

import pytest

from proxy.errors import QuotaExceeded
from proxy.quota import KeyQuota


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_per_key() -> None:
    clock = Clock()
    quota = KeyQuota("renders", 3, 60.0, "api.renders_per_minute_per_key", clock)
    for _ in range(3):
        quota.charge("a")
    with pytest.raises(QuotaExceeded) as info:
        quota.charge("a")
    assert info.value.status == 429 and info.value.retry_after_s == 20
    assert "api.renders_per_minute_per_key" in info.value.public
    quota.charge("b")                 # another key has its own bucket
    clock.now = 20.0                  # one token back (3 per 60 s)
    quota.charge("a")
    with pytest.raises(QuotaExceeded):
        quota.charge("a")
    assert quota.refused == 2


def test_a_charge_larger_than_the_window_is_refused_without_taking_anything() -> None:
    quota = KeyQuota("batch items", 100, 3600.0, "api.batch_items_per_hour_per_key", Clock())
    with pytest.raises(QuotaExceeded, match="exceed"):
        quota.charge("a", 101)
    quota.charge("a", 100)


def test_zero_turns_the_quota_off() -> None:
    quota = KeyQuota("renders", 0, 60.0, "x", Clock())
    for _ in range(1000):
        quota.charge("a")
