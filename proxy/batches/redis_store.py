"""RedisStore: batches in Redis, so every host answers every batch and shares its work.

Layout (`picstream:` prefix; every batch key expires after `batch.retention_s`):
  b:{id}:meta    hash: template, version, counters, state, timestamps, webhook
  b:{id}:urls    list: each item's signed URL ("" for an invalid item)
  b:{id}:status  string: one status letter per item (model.STATUS_NAMES), SETRANGE'd
  b:{id}:errors  hash: index -> reason (at most MAX_ERRORS_KEPT)
  b:{id}:jobs    list: the distinct renders, JSON (model.Job)
  queue          list: chunk tokens `{id}:{start}:{stop}` waiting for a host
  leases         zset: chunk token -> lease deadline (ms, Redis clock)
  hooks          zset: batch id -> when its webhook is due (ms, Redis clock)
  idem:{key}     string: the batch an Idempotency-Key created

Every change that must not race is one Lua script (Redis runs each atomically): taking a
chunk moves expired leases back first, and recording an item changes it only while it is
still pending, so counters count each item once and progress never goes back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import Overloaded
from .model import (
    FAILED,
    INVALID,
    MAX_ERRORS_KEPT,
    MINTED,
    PENDING,
    RENDERED,
    STATUS_NAMES,
    BatchInfo,
    Chunk,
    Job,
    NewBatch,
    Row,
)

log = logging.getLogger("picstream.batch")
P = ParamSpec("P")
R = TypeVar("R")
# An idle host looks for work this often (a new batch on this host wakes it at once).
POLL_S = 0.2
# Items per RPUSH while storing a batch (bounded request size for 10,000-item batches).
PUSH_BLOCK = 1000

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: queue, leases; ARGV: visibility timeout (ms)
_TAKE = _NOW_MS + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, token in ipairs(expired) do
  redis.call('ZREM', KEYS[2], token)
  redis.call('LPUSH', KEYS[1], token)
end
local token = redis.call('LPOP', KEYS[1])
if not token then return false end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), token)
return token
"""

# KEYS: meta, status, errors, hooks; ARGV: batch id, letter, error, max errors, index...
_RECORD = _NOW_MS + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return -1 end
local changed = 0
for i = 5, #ARGV do
  local idx = tonumber(ARGV[i])
  if redis.call('GETRANGE', KEYS[2], idx, idx) == 'p' then
    redis.call('SETRANGE', KEYS[2], idx, ARGV[2])
    changed = changed + 1
    if ARGV[3] ~= '' and redis.call('HLEN', KEYS[3]) < tonumber(ARGV[4]) then
      redis.call('HSET', KEYS[3], idx, ARGV[3])
      if redis.call('TTL', KEYS[3]) < 0 then
        redis.call('EXPIRE', KEYS[3], math.max(redis.call('TTL', KEYS[1]), 1))
      end
    end
  end
end
if changed == 0 then return 0 end
local field = 'failed'
if ARGV[2] == 'r' then field = 'done' end
redis.call('HINCRBY', KEYS[1], field, changed)
local left = redis.call('HINCRBY', KEYS[1], 'pending', -changed)
if left <= 0 and redis.call('HGET', KEYS[1], 'state') == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'finished_at', now / 1000)
  if redis.call('HGET', KEYS[1], 'webhook_url') ~= '' then
    redis.call('ZADD', KEYS[4], 0, ARGV[1])
  end
  return 2
end
return 1
"""

# KEYS: meta, hooks; ARGV: batch id
_CANCEL = _NOW_MS + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', now / 1000)
if redis.call('HGET', KEYS[1], 'webhook_url') ~= '' then
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
return 1
"""

# KEYS: hooks; ARGV: lease (ms), key prefix
_TAKE_HOOK = _NOW_MS + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #due == 0 then return false end
local id = due[1]
local meta = ARGV[2] .. id .. ':meta'
if redis.call('EXISTS', meta) == 0 then
  redis.call('ZREM', KEYS[1], id)
  return false
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
return {id, redis.call('HINCRBY', meta, 'webhook_attempts', 1)}
"""

# KEYS: hooks, meta; ARGV: batch id, delay (ms) or -1 to finish, final webhook state
_HOOK_RESULT = _NOW_MS + """
if tonumber(ARGV[2]) < 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'webhook_state', ARGV[3])
  end
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
return 1
"""

# KEYS: leases; ARGV: token, visibility timeout (ms)
_EXTEND = _NOW_MS + """
return redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
"""


def _guarded(
        method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Redis down or restarting is a 503 for clients and a retry for workers, never a 500."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise Overloaded("the batch store is unavailable; retry shortly",
                             detail=f"redis: {type(exc).__name__}: {exc}") from None

    return call


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore:
    """Batches in Redis (`batch.redis_url`); see the module docstring for the layout."""

    def __init__(self, url: str, *, visibility_timeout_s: float, retention_s: int,
                 prefix: str = "picstream:") -> None:
        self.redis = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                             health_check_interval=10)
        self.prefix = prefix
        self.visibility_ms = int(visibility_timeout_s * 1000)
        self.retention_s = retention_s
        self.queue = prefix + "queue"
        self.leases = prefix + "leases"
        self.hooks = prefix + "hooks"
        self._local_work = asyncio.Event()
        self._take = self.redis.register_script(_TAKE)
        self._record = self.redis.register_script(_RECORD)
        self._cancel = self.redis.register_script(_CANCEL)
        self._take_hook = self.redis.register_script(_TAKE_HOOK)
        self._hook_result = self.redis.register_script(_HOOK_RESULT)
        self._extend = self.redis.register_script(_EXTEND)

    def _key(self, batch_id: str, part: str) -> str:
        return f"{self.prefix}b:{batch_id}:{part}"

    @_guarded
    async def create(self, batch: NewBatch, *, chunk_items: int) -> None:
        """Store the batch and queue its jobs, in one MULTI/EXEC transaction."""
        pending = batch.status.count(PENDING)
        finished = pending == 0
        meta = {"template": batch.template, "version": batch.version,
                "prerender": int(batch.prerender), "total": batch.total,
                "done": batch.status.count(MINTED), "failed": batch.status.count(INVALID),
                "pending": pending, "state": "done" if finished else "running",
                "created_at": repr(batch.created_at),
                "finished_at": repr(batch.created_at) if finished else "",
                "webhook_url": batch.webhook_url,
                "webhook_state": "pending" if batch.webhook_url else "",
                "webhook_attempts": 0, "jobs": len(batch.jobs)}
        keys = [self._key(batch.id, part) for part in ("meta", "urls", "status", "jobs")]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys[0], mapping=meta)  # type: ignore[arg-type]
            for start in range(0, batch.total, PUSH_BLOCK):
                pipe.rpush(keys[1], *(u or "" for u in batch.urls[start:start + PUSH_BLOCK]))
            pipe.set(keys[2], batch.status)
            if batch.errors:
                errors_key = self._key(batch.id, "errors")
                pipe.hset(errors_key, mapping={
                    str(i): e for i, e in list(batch.errors.items())[:MAX_ERRORS_KEPT]})
                pipe.expire(errors_key, self.retention_s)
            for start in range(0, len(batch.jobs), PUSH_BLOCK):
                pipe.rpush(keys[3], *(json.dumps(j.to_json(), separators=(",", ":"))
                                      for j in batch.jobs[start:start + PUSH_BLOCK]))
            for key in keys if batch.jobs else keys[:3]:
                pipe.expire(key, self.retention_s)
            tokens = [Chunk(batch.id, s, min(s + chunk_items, len(batch.jobs))).token
                      for s in range(0, len(batch.jobs), chunk_items)]
            for start in range(0, len(tokens), PUSH_BLOCK):
                pipe.rpush(self.queue, *tokens[start:start + PUSH_BLOCK])
            if finished and batch.webhook_url:
                pipe.zadd(self.hooks, {batch.id: 0})
            await pipe.execute()
        self._local_work.set()

    @_guarded
    async def claim_key(self, key: str, batch_id: str) -> str | None:
        """SET NX the Idempotency-Key; the batch id it already names, or None."""
        name = f"{self.prefix}idem:{key}"
        if await self.redis.set(name, batch_id, nx=True, ex=self.retention_s):
            return None
        found = await self.redis.get(name)
        return None if found is None else _text(found)

    @_guarded
    async def bind_key(self, key: str, batch_id: str) -> None:
        """SET the Idempotency-Key unconditionally."""
        await self.redis.set(f"{self.prefix}idem:{key}", batch_id, ex=self.retention_s)

    @_guarded
    async def info(self, batch_id: str) -> BatchInfo | None:
        """HGETALL of the batch's meta."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(self._key(batch_id, "meta")))
        if not raw:
            return None
        meta = {_text(k): _text(v) for k, v in raw.items()}
        return BatchInfo(
            id=batch_id, template=meta["template"], version=meta["version"],
            prerender=meta["prerender"] == "1", total=int(meta["total"]),
            done=int(meta["done"]), failed=int(meta["failed"]), state=meta["state"],
            created_at=float(meta["created_at"]),
            finished_at=float(meta["finished_at"]) if meta["finished_at"] else None,
            webhook_url=meta["webhook_url"], webhook_state=meta["webhook_state"])

    @_guarded
    async def errors(self, batch_id: str) -> dict[int, str]:
        """HGETALL of the batch's errors."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(self._key(batch_id, "errors")))
        return {int(k): _text(v) for k, v in raw.items()}

    @_guarded
    async def rows(self, batch_id: str, start: int, stop: int) -> list[Row]:
        """URLs, status letters and errors of items `[start, stop)`, in one round trip."""
        if stop <= start:
            return []
        indexes = list(range(start, stop))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(self._key(batch_id, "urls"), start, stop - 1)
            pipe.getrange(self._key(batch_id, "status"), start, stop - 1)
            pipe.hmget(self._key(batch_id, "errors"), [str(i) for i in indexes])
            urls, status, errors = await pipe.execute()
        return [Row(start + n, STATUS_NAMES[chr(letter)], _text(url) or None,
                    None if error is None else _text(error))
                for n, (url, letter, error) in enumerate(zip(urls, status, errors,
                                                             strict=False))]

    @_guarded
    async def jobs(self, batch_id: str, start: int, stop: int) -> list[Job]:
        """LRANGE of the batch's jobs."""
        if stop <= start:
            return []
        raw = await self.redis.lrange(self._key(batch_id, "jobs"), start, stop - 1)
        return [Job.from_json(json.loads(item)) for item in raw]

    @_guarded
    async def job_count(self, batch_id: str) -> int:
        """LLEN of the batch's jobs."""
        return int(await self.redis.llen(self._key(batch_id, "jobs")))

    @_guarded
    async def take(self) -> Chunk | None:
        """Lease the next chunk (the script first returns expired leases to the queue)."""
        token = await self._take(keys=[self.queue, self.leases], args=[self.visibility_ms])
        if token is None:
            self._local_work.clear()
            return None
        return Chunk.parse(_text(token))

    @_guarded
    async def pending_jobs(self, chunk: Chunk) -> list[Job]:
        """The chunk's jobs whose first item is still pending (none unless running)."""
        meta = self._key(chunk.batch_id, "meta")
        state = await self.redis.hget(meta, "state")
        if state is None or _text(state) != "running":
            return []
        jobs = await self.jobs(chunk.batch_id, chunk.start, chunk.stop)
        status = self._key(chunk.batch_id, "status")
        async with self.redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.getrange(status, job.indexes[0], job.indexes[0])
            letters = await pipe.execute()
        return [job for job, letter in zip(jobs, letters, strict=True)
                if _text(letter) == PENDING]

    @_guarded
    async def record(self, batch_id: str, indexes: tuple[int, ...], error: str | None) -> int:
        """Mark still-pending items of a running batch; FINISHED, RECORDED, UNCHANGED, STOPPED."""
        keys = [self._key(batch_id, p) for p in ("meta", "status", "errors")] + [self.hooks]
        letter = RENDERED if error is None else FAILED
        result = await self._record(keys=keys, args=[batch_id, letter, error or "",
                                                     MAX_ERRORS_KEPT, *indexes])
        return int(result)

    @_guarded
    async def extend(self, chunk: Chunk) -> None:
        """Push the lease a visibility timeout further (only if still held)."""
        await self._extend(keys=[self.leases], args=[chunk.token, self.visibility_ms])

    @_guarded
    async def release(self, chunk: Chunk) -> None:
        """ZREM the lease."""
        await self.redis.zrem(self.leases, chunk.token)

    @_guarded
    async def cancel(self, batch_id: str) -> bool:
        """Running -> cancelled (queued chunks of it are then taken and dropped)."""
        keys = [self._key(batch_id, "meta"), self.hooks]
        return int(await self._cancel(keys=keys, args=[batch_id])) == 1

    @_guarded
    async def take_webhook(self) -> tuple[str, int] | None:
        """Lease a due webhook for a visibility timeout."""
        found = await self._take_hook(keys=[self.hooks],
                                      args=[self.visibility_ms, f"{self.prefix}b:"])
        if not found:
            return None
        batch_id, attempt = found
        return _text(batch_id), int(attempt)

    @_guarded
    async def webhook_result(self, batch_id: str, *, delivered: bool,
                             retry_in_s: float | None) -> None:
        """Delivered or given up (removed, state kept), or due again in `retry_in_s`."""
        final = delivered or retry_in_s is None
        delay = -1 if final else int((retry_in_s or 0) * 1000)
        await self._hook_result(keys=[self.hooks, self._key(batch_id, "meta")],
                                args=[batch_id, delay, "delivered" if delivered else "failed"])

    async def wait_for_work(self, timeout_s: float) -> None:
        """Poll: another host's batch is seen within POLL_S; this host's at once."""
        # asyncio.wait, not wait_for: it never cancels on timeout, and cancelling us
        # cancels the waiter in `finally` (a wait_for here hung a shutdown on 3.11).
        waiter = asyncio.ensure_future(self._local_work.wait())
        try:
            await asyncio.wait({waiter}, timeout=min(timeout_s, POLL_S))
        finally:
            waiter.cancel()

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

