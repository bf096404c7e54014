"""Fan-out of record changes to subscribers within this process.

Each subscriber has its own bounded queue; a subscriber too slow to keep up loses its oldest
changes rather than holding back the publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from app.live.changes import Change

log = logging.getLogger(__name__)


class MemoryBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._queues: set[asyncio.Queue[Change]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    async def publish(self, change: Change) -> None:
        self.deliver(change)

    def deliver(self, change: Change) -> None:
        """Hand ``change`` to every local subscriber (never waits)."""
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                log.warning("subscriber too slow: dropped its oldest change")
            queue.put_nowait(change)

    def subscribe(self) -> Subscription:
        """Registered at once: nothing published after this call is missed."""
        return Subscription(self)


class Subscription(AsyncIterator[Change]):
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Change] = asyncio.Queue(bus.queue_size)
        bus._queues.add(self._queue)

    async def __anext__(self) -> Change:
        if self._queue not in self._bus._queues:
            raise StopAsyncIteration
        return await self._queue.get()

    async def aclose(self) -> None:
        self._bus._queues.discard(self._queue)
