"""How many websockets each caller holds open on this instance, and the cap on them.

An open graphql-transport-ws connection with a subscription costs the gateway ~120 kB and a
file descriptor (measured: 1,500 from one caller took a gateway from 110 to 292 MB), so
without a cap one caller (one API key, one token's subject) could open connections until the
process runs out of memory or descriptors, for every caller. Each caller may hold
``live.max_connections_per_caller`` at once, counted per instance; one more is closed with
4429 and its reason, and the count drops as connections close."""

from __future__ import annotations

from collections import Counter

#: The close code of a connection over its caller's cap (graphql-transport-ws leaves 4000-4999
#: to servers; 4429 is what the protocol's own "too many" closes use).
TOO_MANY = 4429


class CallerConnections:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def admit(self, caller: str) -> bool:
        """Count one more connection of ``caller``, unless it holds its limit already."""
        if self._open[caller] >= self.limit:
            return False
        self._open[caller] += 1
        return True

    def release(self, caller: str) -> None:
        """One connection of ``caller`` has closed."""
        self._open[caller] -= 1
        if self._open[caller] <= 0:
            del self._open[caller]
