"""Per-caller rate limits weighted by query cost, by GCRA (the generic cell rate algorithm).

Each caller has a theoretical arrival time (TAT): the moment its budget would be full again.
A request of ``cost`` units moves it ``cost`` emission intervals (``1 / rate_per_second``)
later, and is allowed if the new TAT is no more than ``burst`` intervals ahead of now. So a
fresh caller may spend ``burst`` units at once, then ``rate_per_second`` units a second; one
number per caller is stored, and a refused request changes nothing.

Times are whole microseconds and the interval is rounded to one, so both limiters compute
exactly (a rate is off by at most half a microsecond per unit). The memory limiter serves one
process; the Redis one runs the same algorithm as one Lua script on the Redis clock, so any
number of gateway instances share one budget per caller, and a caller's key expires when its
budget is full again (an idle caller leaves nothing behind).

A cost above ``burst`` could never be allowed; it is clamped to ``burst`` instead: such a
query runs when the caller's budget is full, and empties it. (The query cost limit normally
keeps costs below ``burst``.) A cost of 0 is allowed and charges nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.resilience.breaker import for_redis
from app.resilience.outage import Outage

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: Seconds until this cost would be allowed; 0 when allowed.
    retry_after: float
    #: Units the caller may spend right now (after this request's, when allowed).
    remaining: float


class RateLimiterUnavailable(Exception):
    """The shared budget could not be read (Redis unreachable or failing)."""


class RateLimiter(Protocol):
    async def acquire(self, key: str, cost: int) -> Decision: ...


@dataclass(frozen=True, slots=True)
class _Gcra:
    interval: int  # microseconds per unit
    tolerance: int  # microseconds: burst units
    burst: int

    @classmethod
    def of(cls, rate_per_second: float, burst: int) -> _Gcra:
        if not rate_per_second > 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        interval = max(1, round(MICROS / rate_per_second))
        return cls(interval, interval * burst, burst)

    def units(self, cost: int) -> int:
        if cost < 0:
            raise ValueError("cost must not be negative")
        return min(cost, self.burst)

    def decide(self, allowed: bool, wait: int, available: int) -> Decision:
        return Decision(allowed, max(wait, 0) / MICROS, max(available, 0) / self.interval)


class MemoryRateLimiter:
    """GCRA in this process. ``clock`` returns seconds (monotonic)."""

    def __init__(
        self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._gcra = _Gcra.of(rate_per_second, burst)
        self._clock = clock
        self._tat: dict[str, int] = {}
        self._swept = self._now()

    def __len__(self) -> int:
        """Callers whose budget is not known to be full (the keys held)."""
        return len(self._tat)

    def _now(self) -> int:
        return round(self._clock() * MICROS)

    async def acquire(self, key: str, cost: int) -> Decision:
        gcra = self._gcra
        units = gcra.units(cost)
        now = self._now()
        self._sweep(now)
        tat = max(self._tat.get(key, now), now)
        after = tat + units * gcra.interval
        wait = after - gcra.tolerance - now
        if wait > 0:
            return gcra.decide(False, wait, gcra.tolerance - (tat - now))
        if units:
            self._tat[key] = after
        return gcra.decide(True, 0, gcra.tolerance - (after - now))

    def _sweep(self, now: int) -> None:
        # At most once per full refill period, forget the callers whose budget is full again.
        if now - self._swept < self._gcra.tolerance:
            return
        self._swept = now
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]


# KEYS[1]: the caller. ARGV: interval (µs a unit), tolerance (µs: burst units), units.
# Numbers are formatted with %.0f: Lua's tostring keeps 14 digits, a µs timestamp has 16.
_GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local units = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local after = tat + units * interval
local wait = after - tolerance - now
if wait > 0 then
  return {0, wait, tolerance - (tat - now)}
end
if units > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', after),
             'PX', math.ceil((after - now) / 1000))
end
return {1, 0, tolerance - (after - now)}
"""


class RedisRateLimiter:
    """GCRA in Redis: one atomic script on the server's clock, shared by every instance."""

    def __init__(
        self,
        redis: Redis,
        rate_per_second: float,
        burst: int,
        prefix: str = "crmgraph:rl:",
        outage: Outage | None = None,
    ) -> None:
        self._gcra = _Gcra.of(rate_per_second, burst)
        self._prefix = prefix
        self._script = redis.register_script(_GCRA_SCRIPT)
        #: Where its store's failures are told, once an outage (unset: its callers tell).
        self._outage = outage
        #: While Redis keeps failing, a check fails at once instead of waiting it out.
        self._breaker = for_redis()

    def key(self, caller: str) -> str:
        """The Redis key holding ``caller``'s budget."""
        return self._prefix + caller

    async def acquire(self, key: str, cost: int) -> Decision:
        gcra = self._gcra
        units = gcra.units(cost)
        if not self._breaker.allow():
            raise RateLimiterUnavailable(
                "the rate limit store is unavailable (not asked: it kept failing)"
            )
        try:
            with self._breaker.attempt((RedisError, OSError)):
                allowed, wait, available = await self._script(
                    keys=[self.key(key)], args=[gcra.interval, gcra.tolerance, units]
                )
        except (RedisError, OSError) as exc:
            if self._outage is not None:
                self._outage.failed(exc, 0.0)
            raise RateLimiterUnavailable(
                f"the rate limit store is unavailable ({type(exc).__name__})"
            ) from exc
        if self._outage is not None:
            self._outage.worked()
        return gcra.decide(bool(allowed), int(wait), int(available))
