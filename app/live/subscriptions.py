"""What one subscription takes from the change bus: each change once, of the entity it
watches, passing its filters, loaded fresh through the request's loaders, so brand scope
applies exactly as it does to a query. Nothing here knows GraphQL.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiodataloader import DataLoader
from cachetools import LRUCache

from app.auth.principal import Principal
from app.domain.ids import InvalidId, NodeId
from app.domain.models import Lead, Ticket
from app.live.changes import Change, ChangeBus, Entity
from app.loaders import Loaders, PlayerKey, requester_of

log = logging.getLogger(__name__)


#: Most changes one subscription takes from its backlog to read together.
BACKLOG = 100


async def backlog(bus: ChangeBus, remember: int) -> AsyncGenerator[list[Change]]:
    """The bus's changes from the first ``__anext__`` on, as they come — one at a time, or
    everything waiting (up to :data:`BACKLOG`) when the subscriber has fallen behind, so the
    records can be read in one batch — without redeliveries: a change whose ``event_id`` is
    among the last ``remember`` seen is dropped (the pipeline delivers at least once).
    Closing it ends the bus subscription."""
    stream = bus.subscribe()
    seen: LRUCache[str, bool] = LRUCache(remember)
    try:
        async for first in stream:
            fresh = []
            for change in [first, *stream.ready(BACKLOG - 1)]:
                if change.event_id not in seen:
                    seen[change.event_id] = True
                    fresh.append(change)
            if fresh:
                yield fresh
    finally:
        await stream.aclose()


async def changes(bus: ChangeBus, remember: int) -> AsyncGenerator[Change]:
    """:func:`backlog`, one change at a time."""
    async with contextlib.aclosing(backlog(bus, remember)) as batches:
        async for batch in batches:
            for change in batch:
                yield change


@dataclass(frozen=True, slots=True)
class Watch:
    """One subscription's question: changes of ``entity``; of the record ``id`` (a global id,
    or a player id); of the leads or tickets of ``customer``; with a status in ``statuses``
    after the change."""

    entity: Entity
    id: str | None = None
    customer: NodeId | None = None
    statuses: frozenset[Enum] | None = None

    def needs(self, entity: str) -> Collection[str]:
        """Domain fields the filters read of ``entity``, beyond what the subscriber selected."""
        if entity != self.entity:
            return ()
        needed = ["status"] if self.statuses is not None else []
        if self.customer is not None:
            needed += {"lead": ["email"], "ticket": ["requester_id"]}.get(entity, [])
        return needed

    def wants(self, change: Change, principal: Principal) -> bool:
        """What can be told without a lookup: the entity, the record, a brand the subscriber
        does not see (when the change names its brand)."""
        if change.entity != self.entity:
            return False
        if self.id is not None and change.id != self.id:
            return False
        return change.brand is None or principal.sees_brand(change.brand)

    async def load(self, loaders: Loaders, change: Change) -> Any:
        """The changed record as the subscriber may see it; None when it is gone, of another
        brand, or not of this entity's source. Raises the ``UpstreamError`` of a failed read."""
        if change.entity == "player":
            return await loaders.player.load(PlayerKey(change.brand, change.id))
        sources = loaders.sources
        by_entity: dict[str, tuple[str, DataLoader[str, Any]]] = {
            "customer": (sources.customers.name, loaders.customer),
            "lead": (sources.leads.name, loaders.lead),
            "ticket": (sources.tickets.name, loaders.ticket),
        }
        source, loader = by_entity[change.entity]
        try:
            node = NodeId.parse(change.id)
        except InvalidId:
            log.warning("change %s names no record: %r", change.event_id, change.id[:80])
            return None
        return await loader.load(node.native) if node.source == source else None

    async def matches(self, loaders: Loaders, record: Any) -> bool:
        """Whether the loaded record passes the filters that need its fields."""
        if self.statuses is not None and record.status not in self.statuses:
            return False
        if self.customer is None:
            return True
        if isinstance(record, Lead):
            found = await loaders.customer_by_email.load(record.email) if record.email else None
        elif isinstance(record, Ticket):
            found = await requester_of(loaders, record)
        else:
            return False
        return found is not None and found.id == self.customer
