"""The outbox in Redis, for several instances: the interface and the contract of
:class:`~app.writes.outbox.Outbox` (its docstring: the states, per-record order, a failed job
holding up its record), with leases instead of a start-up recovery.

Keys, all under ``prefix``::

    job:<id>            hash: the job's fields (``seq`` is its enqueue order)
    seq                 counter behind ``seq``
    record:<record key> list: the record's unfinished job ids, oldest first
    ready               stream (consumer group ``workers``): jobs due now
    delayed             zset: jobs backing off, by when they are due
    leases              zset: jobs being applied, by when their claim expires
    all, state:<state>  zsets: every job / the jobs in one state, by ``seq`` (list, depth)

The invariant that keeps order: only the head of a record's list is ever in ``ready`` or
``delayed``; the next job is scheduled when the head leaves the list (applied or dropped). So
at most one job per record is in flight, in order, and a failed head blocks its record only.

Every change is one Lua script, atomic however many instances share the keys, with ``now``
from the injected clock (never Redis ``TIME``). ``claim_due`` moves due ``delayed`` jobs to
``ready``, reads entries with ``XREADGROUP`` and acknowledges and deletes each at once (the
stream is a hand-over, never a pending list), and claims the job if it is still queued, due
and at its record's head; a stale entry (its job dropped) is just discarded.

A claimed job holds a lease of ``lease_seconds``; its worker renews it (``keepalive``) while
the write runs. ``recover()`` queues again the jobs whose lease ran out: their instance died.
A recovered write may have reached the CRM, so writes are applied idempotently (the
idempotency key travels in the payload), exactly as after a restart with the SQLite outbox.

The scripts name keys they compute (a job's record list), so this runs on one Redis server
(or a cluster with the whole prefix in one hash slot: ``{crmgraph}:outbox:``).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.writes.outbox import STATES, InvalidTransition, Job, JobNotFound, OutboxError, _dumps

_T = TypeVar("_T")

#: Lua helpers every script starts with. ``P`` is the key prefix (KEYS[1]).
_COMMON = """
local P = KEYS[1]
local function jkey(id) return P .. 'job:' .. id end
local function move(id, old, new)
  redis.call('ZREM', P .. 'state:' .. old, id)
  redis.call('ZADD', P .. 'state:' .. new, redis.call('HGET', jkey(id), 'seq'), id)
  redis.call('HSET', jkey(id), 'state', new)
end
-- A queued job at its record's head: ready now, or delayed until it is due.
local function schedule(id, now)
  local due = redis.call('HGET', jkey(id), 'next_attempt_at')
  if tonumber(due) <= tonumber(now) then
    redis.call('XADD', P .. 'ready', '*', 'job', id)
  else
    redis.call('ZADD', P .. 'delayed', due, id)
  end
end
local function is_head(id)
  local record = redis.call('HGET', jkey(id), 'record_key')
  return redis.call('LINDEX', P .. 'record:' .. record, 0) == id
end
-- The job leaves its record's list (applied or dropped); the next one may go.
local function release(id, now)
  local list = P .. 'record:' .. redis.call('HGET', jkey(id), 'record_key')
  local was_head = redis.call('LINDEX', list, 0) == id
  redis.call('LREM', list, 1, id)
  if was_head then
    local next_id = redis.call('LINDEX', list, 0)
    if next_id and redis.call('HGET', jkey(next_id), 'state') == 'queued' then
      schedule(next_id, now)
    end
  end
end
-- The job's state, or an answer refusing the change.
local function check(id, allowed)
  local state = redis.call('HGET', jkey(id), 'state')
  if not state then return nil, {'missing'} end
  for _, ok in ipairs(allowed) do
    if state == ok then return state, nil end
  end
  return nil, {'refused', state}
end
"""

# ARGV: id, source, entity, record_key, operation, payload, now, lease expiry ('' : queued)
_ENQUEUE = """
local id, now, expiry = ARGV[1], ARGV[7], ARGV[8]
local state = 'queued'
if expiry ~= '' then state = 'applying' end
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', jkey(id), 'id', id, 'seq', seq, 'source', ARGV[2], 'entity', ARGV[3],
  'record_key', ARGV[4], 'operation', ARGV[5], 'payload', ARGV[6], 'state', state,
  'attempts', 0, 'next_attempt_at', now, 'created_at', now, 'updated_at', now)
redis.call('ZADD', P .. 'all', seq, id)
redis.call('ZADD', P .. 'state:' .. state, seq, id)
local length = redis.call('RPUSH', P .. 'record:' .. ARGV[4], id)
if state == 'applying' then
  redis.call('ZADD', P .. 'leases', expiry, id)  -- its caller applies it; recovered if it dies
elseif length == 1 then
  schedule(id, now)
end
return {'ok', redis.call('HGETALL', jkey(id))}
"""

# ARGV: now, limit, lease expiry
_CLAIM = """
local now, limit, expiry = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local ready = P .. 'ready'
redis.pcall('XGROUP', 'CREATE', ready, 'workers', '0', 'MKSTREAM')  -- BUSYGROUP when it exists
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', P .. 'delayed', id)
  redis.call('XADD', ready, '*', 'job', id)
end
local claimed = {}
while #claimed < limit do
  local reply = redis.call('XREADGROUP', 'GROUP', 'workers', 'outbox',
    'COUNT', limit - #claimed, 'STREAMS', ready, '>')
  if not reply or #reply[1][2] == 0 then break end
  for _, entry in ipairs(reply[1][2]) do
    redis.call('XACK', ready, 'workers', entry[1])
    redis.call('XDEL', ready, entry[1])
    local id = entry[2][2]
    local fields = redis.call('HMGET', jkey(id), 'state', 'next_attempt_at')
    if fields[1] == 'queued' and is_head(id) then
      if tonumber(fields[2]) <= tonumber(now) then
        move(id, 'queued', 'applying')
        redis.call('HSET', jkey(id), 'updated_at', now)
        redis.call('ZADD', P .. 'leases', expiry, id)
        claimed[#claimed + 1] = redis.call('HGETALL', jkey(id))
      else
        schedule(id, now)  -- not due after all: back to waiting, never lost
      end
    end
  end
end
return claimed
"""

# ARGV: id, now, result
_APPLIED = """
local id, now = ARGV[1], ARGV[2]
local _, refused = check(id, {'applying'})
if refused then return refused end
move(id, 'applying', 'applied')
redis.call('HSET', jkey(id), 'result', ARGV[3], 'updated_at', now)
redis.call('HDEL', jkey(id), 'last_error')
redis.call('ZREM', P .. 'leases', id)
release(id, now)
return {'ok', redis.call('HGETALL', jkey(id))}
"""

# ARGV: id, now, error, next attempt at, max attempts, payload ('': unchanged)
_RETRY_LATER = """
local id, now = ARGV[1], ARGV[2]
local _, refused = check(id, {'applying'})
if refused then return refused end
if ARGV[6] ~= '' then redis.call('HSET', jkey(id), 'payload', ARGV[6]) end
local attempts = tonumber(redis.call('HGET', jkey(id), 'attempts')) + 1
redis.call('ZREM', P .. 'leases', id)
redis.call('HSET', jkey(id), 'attempts', attempts, 'last_error', ARGV[3], 'updated_at', now)
if attempts >= tonumber(ARGV[5]) then
  move(id, 'applying', 'failed')  -- stays at its record's head: the record waits for an operator
else
  move(id, 'applying', 'queued')
  redis.call('HSET', jkey(id), 'next_attempt_at', ARGV[4])
  schedule(id, now)
end
return {'ok', redis.call('HGETALL', jkey(id))}
"""

# ARGV: id, now
_RETRY = """
local id, now = ARGV[1], ARGV[2]
local _, refused = check(id, {'failed'})
if refused then return refused end
move(id, 'failed', 'queued')
redis.call('HSET', jkey(id), 'attempts', 0, 'next_attempt_at', now, 'updated_at', now)
if is_head(id) then schedule(id, now) end
return {'ok', redis.call('HGETALL', jkey(id))}
"""

# ARGV: id, now
_DROP = """
local id, now = ARGV[1], ARGV[2]
local state, refused = check(id, {'queued', 'failed'})
if refused then return refused end
move(id, state, 'dropped')
redis.call('HSET', jkey(id), 'updated_at', now)
redis.call('ZREM', P .. 'delayed', id)  -- an entry in ready goes stale: claim discards it
release(id, now)
return {'ok', redis.call('HGETALL', jkey(id))}
"""

# ARGV: now
_RECOVER = """
local now = ARGV[1]
local count = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now)) do
  redis.call('ZREM', P .. 'leases', id)
  if redis.call('HGET', jkey(id), 'state') == 'applying' then
    move(id, 'applying', 'queued')
    local due = redis.call('HGET', jkey(id), 'next_attempt_at')
    if tonumber(due) > tonumber(now) then due = now end
    redis.call('HSET', jkey(id), 'next_attempt_at', due, 'updated_at', now)
    schedule(id, now)
    count = count + 1
  end
end
return count
"""

# ARGV: lease expiry, id...
_KEEPALIVE = """
local count = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', P .. 'leases', ARGV[i]) then  -- still ours: not recovered meanwhile
    redis.call('ZADD', P .. 'leases', ARGV[1], ARGV[i])
    count = count + 1
  end
end
return count
"""

# ARGV: the zset (all, or state:<state>), limit
_LIST = """
local jobs = {}
for _, id in ipairs(redis.call('ZRANGE', P .. ARGV[1], 0, tonumber(ARGV[2]) - 1)) do
  jobs[#jobs + 1] = redis.call('HGETALL', jkey(id))
end
return jobs
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(flat: list[Any]) -> dict[str, str]:
    """A script's ``HGETALL`` reply (a flat list of names and values) as a dict."""
    return {_text(k): _text(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}


def _job(fields: dict[str, str]) -> Job:
    result = fields.get("result")
    return Job(
        id=fields["id"],
        source=fields["source"],
        entity=fields["entity"],
        record_key=fields["record_key"],
        operation=fields["operation"],
        payload=json.loads(fields["payload"]),
        state=fields["state"],
        attempts=int(fields["attempts"]),
        next_attempt_at=float(fields["next_attempt_at"]),
        last_error=fields.get("last_error"),
        created_at=float(fields["created_at"]),
        updated_at=float(fields["updated_at"]),
        result=None if result is None else json.loads(result),
    )


def _moment(value: float) -> str:
    """A time as Redis keeps it: ``repr`` reads back as the very same float."""
    return repr(float(value))


class RedisOutbox:
    """Durable queue of pending CRM writes in Redis (see the module docstring)."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "crmgraph:outbox:",
        clock: Callable[[], float] = time.time,
        lease_seconds: float = 60.0,
        *,
        owns_redis: bool = False,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        #: How long a claim lasts unless renewed; the worker renews every third of it.
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._owns_redis = owns_redis
        self._closed = False
        self._scripts = {
            name: redis.register_script(_COMMON + body)
            for name, body in {
                "enqueue": _ENQUEUE,
                "claim": _CLAIM,
                "applied": _APPLIED,
                "retry_later": _RETRY_LATER,
                "retry": _RETRY,
                "drop": _DROP,
                "recover": _RECOVER,
                "keepalive": _KEEPALIVE,
                "list": _LIST,
            }.items()
        }

    @classmethod
    def from_url(
        cls, url: str, prefix: str, lease_seconds: float = 60.0, **options: Any
    ) -> RedisOutbox:
        """An outbox with a Redis client of its own (closed with it). A Redis that is down
        fails an enqueue within seconds rather than holding the request."""
        redis = Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=10.0, **options)
        return cls(redis, prefix, lease_seconds=lease_seconds, owns_redis=True)

    # -- plumbing -------------------------------------------------------------------------

    async def _call(self, work: Awaitable[_T]) -> _T:
        try:
            # Shielded: redis-py (8.1) can swallow a cancellation that lands mid-command and
            # leave the caller hanging; this way the command finishes on its own and the
            # caller (a worker being stopped) is cancelled at once.
            return await asyncio.shield(work)
        except RedisError as exc:
            raise OutboxError(f"the outbox's Redis failed: {type(exc).__name__}: {exc}") from exc

    async def _run(self, name: str, *args: str | int) -> Any:
        if self._closed:
            raise OutboxError("the outbox is closed")
        return await self._call(self._scripts[name](keys=[self.prefix], args=list(args)))

    async def _change(self, name: str, job_id: str, action: str, *args: str | int) -> Job:
        reply = await self._run(name, job_id, _moment(self._clock()), *args)
        status = _text(reply[0])
        if status == "missing":
            raise JobNotFound(job_id)
        if status == "refused":
            raise InvalidTransition(job_id, _text(reply[1]), action)
        return _job(_fields(reply[1]))

    # -- the interface ------------------------------------------------------------------

    async def enqueue(
        self,
        source: str,
        entity: str,
        record_key: str,
        operation: str,
        payload: dict[str, Any],
        *,
        applying: bool = False,
    ) -> Job:
        """Store a write durably; it is due at once (behind earlier jobs of its record).

        ``applying``: the caller is about to apply it itself (a write tried inline), so it is
        stored claimed, with a lease: if the instance dies meanwhile, ``recover`` queues it."""
        job_id = f"job_{uuid.uuid4().hex}"
        body = _dumps(payload)  # not JSON: fail here, in the caller, before anything is stored
        clock = self._clock()
        now = _moment(clock)
        expiry = _moment(clock + self.lease_seconds) if applying else ""
        reply = await self._run(
            "enqueue", job_id, source, entity, record_key, operation, body, now, expiry
        )
        return _job(_fields(reply[1]))

    async def get(self, job_id: str) -> Job | None:
        if self._closed:
            raise OutboxError("the outbox is closed")
        flat = await self._call(self.redis.hgetall(f"{self.prefix}job:{job_id}"))
        if not flat:
            return None
        return _job({_text(k): _text(v) for k, v in flat.items()})

    async def list(self, state: str | None = None, limit: int = 100) -> builtins.list[Job]:
        """Jobs in the order they were enqueued, optionally only those in ``state``."""
        if limit <= 0:
            return []
        jobs = await self._run("list", "all" if state is None else f"state:{state}", limit)
        return [_job(_fields(flat)) for flat in jobs]

    async def claim_due(self, limit: int = 10) -> builtins.list[Job]:
        """Mark up to ``limit`` due jobs ``applying`` (each with a lease) and return them,
        oldest first; at most one job per record is ever in flight, never out of order."""
        if limit <= 0:
            return []
        now = self._clock()
        claimed = await self._run("claim", _moment(now), limit, _moment(now + self.lease_seconds))
        rows = sorted((_fields(flat) for flat in claimed), key=lambda fields: int(fields["seq"]))
        return [_job(fields) for fields in rows]

    async def applied(self, job_id: str, result: dict[str, Any]) -> Job:
        """The CRM took the write; ``result`` (JSON) is kept for ``syncJob``."""
        return await self._change("applied", job_id, "mark applied", _dumps(result))

    async def retry_later(
        self,
        job_id: str,
        error: str,
        delay: float,
        max_attempts: int,
        payload: dict[str, Any] | None = None,
    ) -> Job:
        """The attempt failed: count it; queue the job again at now + ``delay``, or park it as
        failed with ``error`` once ``max_attempts`` attempts have been made. ``payload``
        replaces the job's (what the failed attempt taught about how to apply it)."""
        due = _moment(self._clock() + max(delay, 0.0))
        body = _dumps(payload) if payload is not None else ""
        return await self._change("retry_later", job_id, "retry", error, due, max_attempts, body)

    async def retry(self, job_id: str) -> Job:
        """An operator sends a failed job round again: queued, due now, attempts reset."""
        return await self._change("retry", job_id, "re-queue")

    async def drop(self, job_id: str) -> Job:
        """An operator gives up on a queued or failed job: it leaves the queue (state
        ``dropped``) but stays on record. A job being applied cannot be dropped."""
        return await self._change("drop", job_id, "drop")

    async def recover(self) -> int:
        """Jobs whose lease ran out (their instance died) are queued again, due now. Safe to
        call at any time, from any instance: a live worker keeps its leases renewed."""
        count = await self._run("recover", _moment(self._clock()))
        return int(count)

    async def keepalive(self, job_ids: Iterable[str]) -> int:
        """Renew the leases of jobs this instance is still applying; how many were renewed."""
        ids = builtins.list(job_ids)
        if not ids:
            return 0
        expiry = _moment(self._clock() + self.lease_seconds)
        return int(await self._run("keepalive", expiry, *ids))

    async def depth(self) -> dict[str, int]:
        """How many jobs are in each state (every state listed, zeros included)."""
        if self._closed:
            raise OutboxError("the outbox is closed")
        async with self.redis.pipeline(transaction=True) as pipe:
            for state in STATES:
                pipe.zcard(f"{self.prefix}state:{state}")
            counts = await self._call(pipe.execute())
        return {state: int(n) for state, n in zip(STATES, counts, strict=True)}

    async def close(self) -> None:
        """Refuse further work; close the Redis client if this outbox made it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_redis:
            await self.redis.aclose()

    async def __aenter__(self) -> RedisOutbox:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
