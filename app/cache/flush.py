"""Flushing every instance's cache: the shared tier directly, the in-process tiers by a
message each instance listens for on Redis. The same listener hears what other instances'
response caches forgot (``app.cache.responses.CHANNEL``) and forgets it here too: the answers
and this process's copies of the records and lists they name."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from redis.asyncio import Redis

from app.cache import responses
from app.cache.records import FieldCache
from app.cancellation import stop_if_cancelled
from app.resilience.outage import Outage

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
    # Redis away: tried again every 5 s, said once; the cache still works meanwhile.
    outage = Outage("cache flush listener", log, longest=5.0, level=logging.WARNING)
    while True:
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(CHANNEL, responses.CHANNEL)
            outage.worked()
            async for message in pubsub.listen():
                stop_if_cancelled()  # a cancel redis-py lost while reading
                if message.get("type") != "message":
                    continue
                data = message["data"]
                if _name(message["channel"]) == responses.CHANNEL:
                    try:
                        await _forget_heard(cache, data)
                    except (ValueError, TypeError, AttributeError):
                        log.warning("response cache: an unreadable message was ignored")
                    continue
                entity = data.decode() if isinstance(data, bytes) else str(data)
                removed = await cache.local.delete_prefix("r:" if entity == "*" else f"r:{entity}:")
                removed += await cache.local.delete_prefix("a:")
                if cache.responses is not None:
                    removed += cache.responses.drop(None)
                log.info("cache flushed on request", extra={"entity": entity, "removed": removed})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            pause = outage.failed(exc, 5.0)
            with contextlib.suppress(Exception):
                await pubsub.reset()
            stop_if_cancelled()
            await asyncio.sleep(pause)


def _name(channel: bytes | str) -> str:
    return channel.decode() if isinstance(channel, bytes) else channel


async def _forget_heard(cache: FieldCache, data: bytes | str) -> None:
    """Another instance forgot these tags: so does this one, answers and in-process entries
    alike (its own next read then goes to the shared tier or the CRM, not an old copy)."""
    if cache.responses is None or not cache.responses.heard(data):
        return
    tags = json.loads(data)["tags"]
    if tags is None:
        await cache.local.delete_prefix("")
        return
    for tag in tags:
        kind, _, rest = tag.partition(":")
        if kind == "r":
            entity, source, native = rest.split(":", 2)
            names = cache.groups.by_entity.get(entity, {})
            await cache.local.delete([cache.record_key(entity, source, native, g) for g in names])
        elif kind == "a":
            await cache.local.delete_prefix(f"a:{rest}:")
