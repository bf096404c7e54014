"""What a changed record makes wrong in the field cache, forgotten in one place.

A change forgets the record's cached groups (hot and cold) and every relation and list
answer the record may appear in or move between: a ticket whose status changed leaves one
filtered list for another; a lead whose email changed moves between customers.
"""

from __future__ import annotations

from app.cache.records import FieldCache
from app.domain.entities import ENTITIES
from app.live.changes import Change


def record_source(change: Change) -> str:
    """The source part of the record's cache key: players are cached per brand."""
    if change.entity == "player":
        if change.brand is None:
            raise ValueError(f"a player change needs its brand ({change.event_id})")
        return f"{change.source}@{change.brand}"
    return change.source


async def forget(cache: FieldCache | None, change: Change) -> None:
    """Forget what ``change`` makes wrong; nothing to do without a cache."""
    if cache is None:
        return
    await cache.invalidate(change.entity, record_source(change), change.native_id)
    answers = ENTITIES[change.entity].answers
    if answers:
        await cache.forget_answers(*answers)
