"""Both batch stores keep one contract: leases, once-only records, cancel, keys, webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from proxy.batches.model import (
    FINISHED,
    INVALID,
    PENDING,
    RECORDED,
    STOPPED,
    UNCHANGED,
    Job,
    NewBatch,
)
from proxy.batches.redis_store import RedisStore
from proxy.batches.store import BatchStore, MemoryStore
from proxy.errors import Overloaded
from tests.support.redis_server import RedisServer

VISIBILITY_S = 0.6


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BatchStore]:
    made: BatchStore
    if request.param == "memory":
        made = MemoryStore(visibility_timeout_s=VISIBILITY_S)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisStore(server.url, visibility_timeout_s=VISIBILITY_S, retention_s=600)
    yield made
    await made.close()


def new_batch(batch_id: str, pending: int, *, invalid: int = 0, webhook: str = "") -> NewBatch:
    jobs = [Job((i,), {"name": f"n{i}"}, {}) for i in range(pending)]
    return NewBatch(id=batch_id, template="social-card", version="v1", prerender=True,
                    urls=[f"http://x/{i}" for i in range(pending)] + [None] * invalid,
                    status=PENDING * pending + INVALID * invalid,
                    errors={pending + i: "bad" for i in range(invalid)}, jobs=jobs,
                    webhook_url=webhook)


async def test_chunks_are_leased_once_and_records_count_once(store: BatchStore) -> None:
    await store.create(new_batch("b1", 5, invalid=1), chunk_items=2)
    first, second = await store.take(), await store.take()
    assert first is not None and second is not None
    assert (first.start, first.stop, second.start, second.stop) == (0, 2, 2, 4)
    jobs = await store.pending_jobs(first)
    assert [j.indexes for j in jobs] == [(0,), (1,)]
    assert await store.record("b1", (0,), None) == RECORDED
    assert await store.record("b1", (0,), None) == UNCHANGED  # a second record changes nothing
    assert await store.record("b1", (1,), "broke") == RECORDED
    info = await store.info("b1")
    assert info is not None and (info.done, info.failed, info.total) == (1, 2, 6)
    assert await store.errors("b1") == {1: "broke", 5: "bad"}
    assert [j.indexes for j in await store.pending_jobs(first)] == []
    rows = await store.rows("b1", 0, 6)
    assert [r.status for r in rows] == ["rendered", "failed", "pending", "pending", "pending",
                                        "invalid"]
    assert rows[5].url is None and rows[1].error == "broke"


async def test_an_unreleased_chunk_is_taken_again_after_the_visibility_timeout(
        store: BatchStore) -> None:
    await store.create(new_batch("b2", 3), chunk_items=3)
    chunk = await store.take()
    assert chunk is not None
    await store.record("b2", (0,), None)
    assert await store.take() is None                         # leased: nobody else gets it
    await asyncio.sleep(VISIBILITY_S + 0.2)
    again = await store.take()
    assert again == chunk
    assert [j.indexes for j in await store.pending_jobs(again)] == [(1,), (2,)]
    for index in (1, 2):
        finished = await store.record("b2", (index,), None)
    assert finished == FINISHED
    await store.release(again)
    info = await store.info("b2")
    assert info is not None and info.state == "done" and info.finished_at is not None


async def test_extending_a_lease_keeps_the_chunk(store: BatchStore) -> None:
    await store.create(new_batch("b3", 1), chunk_items=1)
    chunk = await store.take()
    assert chunk is not None
    for _ in range(3):
        await asyncio.sleep(VISIBILITY_S / 2)
        await store.extend(chunk)
    assert await store.take() is None


async def test_cancel_stops_handing_out_work_and_schedules_the_webhook(
        store: BatchStore) -> None:
    await store.create(new_batch("b4", 4, webhook="http://127.0.0.1:9/hook"), chunk_items=2)
    assert await store.cancel("b4") is True
    assert await store.cancel("b4") is False
    assert await store.record("b4", (0,), None) == STOPPED
    chunk = await store.take()
    assert chunk is not None and await store.pending_jobs(chunk) == []
    taken = await store.take_webhook()
    assert taken == ("b4", 1)
    assert await store.take_webhook() is None                 # leased
    await store.webhook_result("b4", delivered=False, retry_in_s=0.05)
    await asyncio.sleep(0.1)
    assert await store.take_webhook() == ("b4", 2)
    await store.webhook_result("b4", delivered=True, retry_in_s=None)
    info = await store.info("b4")
    assert info is not None and info.state == "cancelled" and info.webhook_state == "delivered"


async def test_finishing_schedules_the_webhook_exactly_once(store: BatchStore) -> None:
    await store.create(new_batch("b5", 2, webhook="http://127.0.0.1:9/hook"), chunk_items=2)
    assert await store.take_webhook() is None
    assert await store.record("b5", (0,), None) == RECORDED
    assert await store.record("b5", (1,), None) == FINISHED
    assert await store.record("b5", (1,), None) == STOPPED
    assert await store.take_webhook() == ("b5", 1)


async def test_idempotency_key_names_the_first_batch(store: BatchStore) -> None:
    assert await store.claim_key("k", "first") is None
    await store.create(new_batch("first", 1), chunk_items=1)
    assert await store.claim_key("k", "second") == "first"
    assert await store.claim_key("other", "second") is None


async def test_unknown_batches_read_as_none(store: BatchStore) -> None:
    assert await store.info("nope") is None
    assert await store.rows("nope", 0, 10) == []
    assert await store.record("nope", (0,), None) == STOPPED


async def test_redis_down_is_overloaded_not_a_crash(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, visibility_timeout_s=1, retention_s=600)
    redis_server.stop()
    with pytest.raises(Overloaded):
        await store.info("x")
    redis_server.start()
    assert await store.info("x") is None
    await store.close()


async def test_a_key_whose_batch_was_never_stored_can_be_taken_over(store: BatchStore) -> None:
    await store.claim_key("k", "ghost")           # that POST failed before storing its batch
    await store.bind_key("k", "real")
    await store.create(new_batch("real", 1), chunk_items=1)
    assert await store.claim_key("k", "third") == "real"
