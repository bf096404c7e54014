"""Flushing every instance's cache: the shared tier directly, the in-process tiers by a
message each instance listens for on Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis

from app.cache.records import FieldCache

CHANNEL = "crmgraph:cache:flush"
log = logging.getLogger(__name__)


async def flush_everywhere(cache: FieldCache, redis: Redis, entity: str | None) -> int:
    """Flush the shared tier and tell every instance to flush its own; how many entries went
    from the shared tier and this process's."""
    removed = await cache.flush(entity)
    await redis.publish(CHANNEL, entity or "*")
    return removed


async def listen_for_flushes(cache: FieldCache, redis: Redis) -> None:
    """Run for the life of the app: flush the in-process tier when told to."""
    while True:
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                entity = data.decode() if isinstance(data, bytes) else str(data)
                removed = await cache.local.delete_prefix("r:" if entity == "*" else f"r:{entity}:")
                removed += await cache.local.delete_prefix("a:")
                log.info("cache flushed on request", extra={"entity": entity, "removed": removed})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away: try again later, the cache still works
            log.warning("cache flush listener: %s; retrying in 5 s", type(exc).__name__)
            with contextlib.suppress(Exception):
                await pubsub.reset()
            await asyncio.sleep(5)
