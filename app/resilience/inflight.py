"""Requests a budget let go and has not yet seen answered, one lease each.

A lease is held by the task that sent the request (an :class:`UpstreamClient` task sends one
request at a time) and ends with its answer (``observe`` in that task), with the task's next
request (its previous one is over: a retry after a timeout or a dropped connection), when the
task ends, or at the request's deadline (``LEASE`` seconds without one), whichever is first.
"""

from __future__ import annotations

import asyncio

#: How long a request with no deadline counts as in flight when its answer is never observed.
LEASE = 30.0


def owner() -> object:
    """The task sending the request (a fresh token outside one)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task if task is not None else object()


class InFlight:
    """The leases of requests in flight: ``clock()`` expiry times by owner."""

    def __init__(self) -> None:
        self._leases: dict[object, float] = {}

    def add(self, who: object, now: float, deadline: float | None) -> None:
        """One more request in flight (an owner's previous request is over)."""
        fresh = who not in self._leases
        self._leases[who] = deadline if deadline is not None else now + LEASE
        if fresh and isinstance(who, asyncio.Task):
            who.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[object]) -> None:
        self._leases.pop(task, None)

    def done(self, who: object) -> None:
        """One request answered: ``who``'s, or else the lease expiring first."""
        if self._leases.pop(who, None) is None and self._leases:
            first = min(self._leases, key=self._leases.__getitem__)
            del self._leases[first]

    def count(self, now: float) -> int:
        """Requests in flight at ``now`` (expired leases dropped)."""
        for who in [w for w, until in self._leases.items() if until <= now]:
            del self._leases[who]
        return len(self._leases)

    def next_expiry(self) -> float | None:
        """When the first lease expires, if any is held."""
        return min(self._leases.values(), default=None)
