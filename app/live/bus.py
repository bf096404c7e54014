"""Fan-out of record changes to subscribers: within this process (:class:`MemoryBus`), or
to every instance through Redis pub/sub (:class:`RedisBus`).

Each subscriber has its own bounded queue; a subscriber too slow to keep up loses its oldest
changes rather than holding back the publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.cancellation import stop_if_cancelled
from app.live.changes import Change
from app.resilience.outage import Outage

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

    def ready(self, limit: int) -> list[Change]:
        """Up to ``limit`` changes waiting now, without waiting for more."""
        waiting: list[Change] = []
        while len(waiting) < limit and not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        return waiting

    async def aclose(self) -> None:
        self._bus._queues.discard(self._queue)


class BusUnavailable(Exception):
    """The change could not be handed to Redis (it still reached this process's subscribers);
    the publisher should retry, subscribers drop the duplicate by ``event_id``."""


class RedisBus:
    """Fan-out to every instance: ``publish`` is a Redis PUBLISH on ``channel``; one listener
    per process (:meth:`run`, for the life of the app) hands each message to the local
    subscribers, so a change reaches every subscriber of every instance, the publisher's
    own included, once.

    Pub/sub keeps nothing: a subscriber misses what is published while its instance is
    cut off from Redis. The listener reconnects on its own and says so in the log.
    """

    def __init__(
        self,
        url: str,
        channel: str = "crmgraph:changes",
        queue_size: int = 1000,
        reconnect_delay: float = 1.0,
    ) -> None:
        self.channel = channel
        self.reconnect_delay = reconnect_delay
        self.local = MemoryBus(queue_size)
        # Publishing fails fast; the listener waits for messages as long as it takes and
        # pings Redis while idle, so a dead connection is noticed.
        self._publisher = Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)
        )
        self._listener = Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            health_check_interval=5,
            retry=Retry(NoBackoff(), 0),  # a lost connection surfaces here, to be logged
            client_name=f"crmgraph-bus:{channel}",
        )

    @property
    def subscribers(self) -> int:
        return self.local.subscribers

    async def publish(self, change: Change) -> None:
        try:
            await self._publisher.publish(self.channel, json.dumps(change.to_json()))
        except RedisError as exc:
            self.local.deliver(change)
            raise BusUnavailable(
                f"change {change.event_id} reached this instance only: Redis is unavailable "
                f"({type(exc).__name__})"
            ) from exc

    def subscribe(self) -> Subscription:
        return self.local.subscribe()

    async def run(self) -> None:
        """Listen for changes until cancelled, reconnecting whenever Redis goes away."""
        outage = Outage(
            f"change bus on {self.channel}",
            log,
            longest=self.reconnect_delay,
            level=logging.WARNING,
            consequence=f"reconnecting every {self.reconnect_delay} s",
            units=("connection", "connections"),
        )
        while True:
            try:
                async with self._listener.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    outage.worked()
                    await self._listen(pubsub)
            except (RedisError, OSError) as exc:
                await asyncio.sleep(outage.failed(exc, self.reconnect_delay))

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            # Waits a second at most, so the health check runs while nothing is published.
            message = await pubsub.get_message(timeout=1.0)
            stop_if_cancelled()  # a cancel redis-py lost while reading
            if message is None or message.get("type") != "message":
                continue
            try:
                change = Change.from_json(json.loads(message["data"]))
            except (ValueError, TypeError) as exc:
                log.error("change bus: unreadable message dropped: %s", exc)
                continue
            self.local.deliver(change)

    async def aclose(self) -> None:
        await self._publisher.aclose()
        await self._listener.aclose()
