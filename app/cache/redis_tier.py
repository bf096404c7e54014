"""The shared tier: cache entries in Redis, so several gateway instances share warm data.

Each entry is one Redis string, ``encode((value, fetched_at))``, under ``prefix + key``, with
its own expiry (``PX``). Every call is one round trip (``MGET``; one pipeline of ``SET … PX``,
without MULTI; ``DEL``), except ``delete_prefix``, which walks the prefix with ``SCAN`` (never
``KEYS``) and ``UNLINK``s each page.

Redis is an optimisation: any failure to reach it (refused, timed out, a Redis error) is a
``TierUnavailable`` whose message names only the error class, and the caller carries on with
the in-process tier and the CRMs. Timeouts are the client's (``socket_timeout``,
``socket_connect_timeout``, ``retry``): configure them short. A stored value that does not
decode (corrupt, or written by another version) is a miss, counted in ``corrupt``; the next
write of that key replaces it.
"""

from __future__ import annotations

import math
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.cache.codec import decode, encode
from app.cache.tier import Entry

#: Keys removed per ``SCAN`` page (a hint to Redis, not a bound).
SCAN_COUNT = 500

# redis-py wraps most failures in RedisError; a raw socket error or timeout is an OSError.
_FAILURES = (RedisError, OSError)


class TierUnavailable(Exception):
    """A shared cache tier could not be used; the caller goes on without it."""


def _unavailable(operation: str, exc: BaseException) -> TierUnavailable:
    # Only the class: a driver's message may carry addresses or payload fragments.
    return TierUnavailable(f"Redis cache tier: {operation} failed ({type(exc).__name__})")


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis ``MATCH`` pattern."""
    for special in ("\\", "*", "?", "[", "]"):
        text = text.replace(special, "\\" + special)
    return text


def _entry(data: bytes | str) -> Entry | None:
    if type(data) is not bytes:
        return None
    try:
        stored: Any = decode(data)
    except ValueError:
        return None
    if type(stored) is not tuple or len(stored) != 2:
        return None
    value, fetched_at = stored
    if type(fetched_at) not in (float, int):
        return None
    return Entry(value, float(fetched_at))


class RedisTier:
    """A ``Tier`` in Redis. ``redis`` must return bytes (``decode_responses=False``)."""

    def __init__(self, redis: Redis, prefix: str = "crmgraph:cache:") -> None:
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisTier needs a Redis client with decode_responses=False")
        self._redis = redis
        self.prefix = prefix
        #: Stored values that did not decode (each read of one counts).
        self.corrupt = 0

    async def get_many(self, keys: list[str]) -> dict[str, Entry]:
        if not keys:
            return {}
        names = [self.prefix + key for key in keys]
        try:
            values: list[bytes | str | None] = await self._redis.mget(names)
        except _FAILURES as exc:
            raise _unavailable("MGET", exc) from None
        found: dict[str, Entry] = {}
        for key, data in zip(keys, values, strict=True):
            if data is None:
                continue
            entry = _entry(data)
            if entry is None:
                self.corrupt += 1
            else:
                found[key] = entry
        return found

    async def set_many(self, entries: dict[str, Entry], keep: float) -> None:
        """Store each entry for ``keep`` seconds (rounded up to a millisecond); a ``keep`` of 0
        or less removes them. A value the codec cannot hold is a ``TypeError``, raised before
        anything is written."""
        if not entries:
            return
        if keep <= 0:
            await self.delete(list(entries))
            return
        keep_ms = max(1, math.ceil(keep * 1000))
        prefix = self.prefix
        payloads = [
            (prefix + key, encode((entry.value, entry.fetched_at)))
            for key, entry in entries.items()
        ]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, data in payloads:
                    pipe.set(key, data, px=keep_ms)
                await pipe.execute()
        except _FAILURES as exc:
            raise _unavailable("SET", exc) from None

    async def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        prefix = self.prefix
        try:
            await self._redis.delete(*[prefix + key for key in keys])
        except _FAILURES as exc:
            raise _unavailable("DEL", exc) from None

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix`` (``""``: the whole tier); how
        many went. Not atomic: an entry written meanwhile may survive."""
        pattern = _glob_escape(self.prefix + prefix) + "*"
        removed = 0
        cursor = 0
        try:
            while True:
                cursor, names = await self._redis.scan(cursor, match=pattern, count=SCAN_COUNT)
                if names:
                    # SCAN may repeat a key; UNLINK counts only what it removed.
                    removed += await self._redis.unlink(*names)
                if cursor == 0:
                    return removed
        except _FAILURES as exc:
            raise _unavailable("SCAN/UNLINK", exc) from None

    async def ping(self) -> bool:
        """Whether Redis answers; never raises."""
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False
