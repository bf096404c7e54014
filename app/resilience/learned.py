"""Rate limits learned from the CRMs' headers, kept in Redis so that a restarted or new
instance starts a source from its last known limit instead of cold.

One small hash a source (``crmgraph:upstream:learned:<source>``: ``limit`` and ``window``
seconds), written when the limit read from the headers changes and kept for a week. A Redis
that is down or failing never fails a request: the limit is then learned again from the
headers, and the outage is logged once (and its end once).
"""

from __future__ import annotations

import logging
import math

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.resilience.outage import Outage
from app.resilience.rates import WindowLimit

log = logging.getLogger(__name__)

#: How long a learned limit is kept after it was last written (seconds).
KEEP = 7 * 86_400


class LearnedLimits:
    """Learned limits in Redis, shared by every instance."""

    def __init__(self, redis: Redis, prefix: str = "crmgraph:upstream:learned:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._outage = Outage(
            "learned rate limits' shared store",
            log,
            level=logging.WARNING,
            consequence="learning from the CRMs' headers alone",
            units=("read or write", "reads and writes"),
        )

    def key(self, source: str) -> str:
        return self._prefix + source

    async def load(self, source: str) -> WindowLimit | None:
        """The source's learned limit, or None (none kept, unreadable, or Redis down)."""
        try:
            found = await self._redis.hmget(self.key(source), ["limit", "window"])
        except (RedisError, OSError) as exc:
            self._outage.failed(exc, 0.0)
            return None
        self._outage.worked()
        try:
            limit, window = (float(value) for value in found if value is not None)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(limit) and math.isfinite(window) and limit > 0 and window > 0):
            return None
        return WindowLimit(limit, window)

    async def save(self, source: str, learned: WindowLimit) -> None:
        """Keep the source's learned limit (never raises)."""
        key = self.key(source)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"limit": learned.limit, "window": learned.window})
                pipe.expire(key, KEEP)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._outage.failed(exc, 0.0)
            return
        self._outage.worked()
