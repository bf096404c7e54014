"""Salesforce sends no signed webhooks: its lead changes are polled on ``SystemModstamp``.

Every interval the poller asks for the leads changed since its cursor (through the source's
upstream client, so its rate budget and breaker apply) and stores each as an event
``"<source>:<Id>:<SystemModstamp>"`` (see :mod:`app.connectors.salesforce.webhooks`) in the
webhook store, where the worker takes it like any webhook. The cursor (the last stamp seen,
and the ids seen at that stamp, since the query includes that stamp) is kept in the store,
so a restart carries on where it stopped; the first run starts from now rather than
replaying history. Instances sharing a Redis store take turns: one poll an interval between
them, not one each. A poll is logged at debug, its calls too, unless it found changes (info,
with their count) or failed (a warning).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.cancellation import stop_if_cancelled
from app.connectors.errors import UpstreamError
from app.connectors.salesforce import SalesforceClient
from app.connectors.salesforce.webhooks import DIALECT as SALESFORCE
from app.mapping.converters import ConversionError, salesforce_datetime
from app.observability.setup import routine_calls
from app.resilience.outage import Outage
from app.webhooks.store import EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cursor:
    since: datetime
    seen: frozenset[str]  # the lead ids already taken at exactly ``since``

    def dumps(self) -> str:
        return json.dumps({"since": self.since.isoformat(), "seen": sorted(self.seen)})

    @classmethod
    def loads(cls, raw: str) -> Cursor:
        body = json.loads(raw)
        return cls(datetime.fromisoformat(body["since"]), frozenset(body["seen"]))


class SalesforcePoller:
    def __init__(
        self,
        leads: SalesforceClient,
        store: EventStore,
        *,
        interval: float,
        limit: int = 200,
        on_stored: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.leads = leads
        self.store = store
        self.interval = interval
        self.limit = limit
        self.on_stored = on_stored
        self.clock = clock
        self.cursor_name = f"salesforce-poll:{leads.name}"

    async def run(self) -> None:
        routine_calls()  # this task's: the log says when a poll finds something, or fails
        outage = Outage("Salesforce change poll", log, longest=max(self.interval, 30.0))
        while True:
            pause = self.interval
            try:
                full = await self.poll_once()
                outage.worked()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                expected = isinstance(exc, UpstreamError)
                pause = outage.failed(exc, self.interval, expected=expected)
                full = False
            stop_if_cancelled()  # a cancel redis-py lost during the poll
            if not full:  # a full page: more changes are waiting, ask again at once
                await asyncio.sleep(pause)

    async def poll_once(self) -> bool:
        """One poll (unless another instance sharing the store has just polled); whether it
        read a full page."""
        # Most of an interval: the next poll anywhere is not held back by a late one here.
        if not await self.store.take_turn(self.cursor_name, self.interval * 0.9):
            return False
        raw = await self.store.cursor(self.cursor_name)
        if raw is None:
            now = datetime.fromtimestamp(self.clock(), tz=UTC)
            await self.store.set_cursor(self.cursor_name, Cursor(now, frozenset()).dumps())
            return False
        cursor = Cursor.loads(raw)
        records = await self.leads.changed_leads(cursor.since, self.limit)
        fresh = []
        for record in records:
            stamp = _stamp(record)
            if stamp is None or (stamp == cursor.since and record["Id"] in cursor.seen):
                continue
            fresh.append((stamp, record))
        log.log(
            logging.INFO if fresh else logging.DEBUG,
            "Salesforce change poll: %d changed lead(s)",
            len(fresh),
            extra={"event": "salesforce.poll", "changed": len(fresh)},
        )
        if fresh:
            events = [SALESFORCE.polled(self.leads.name, record) for _, record in fresh]
            stored = await self.store.add(events)
            await self.store.set_cursor(self.cursor_name, _advance(cursor, fresh).dumps())
            if any(stored) and self.on_stored is not None:
                self.on_stored()
        return len(records) >= self.limit


def _stamp(record: dict[str, Any]) -> datetime | None:
    try:
        stamp = salesforce_datetime(record.get("SystemModstamp"))
    except ConversionError:
        stamp = None
    if stamp is None or not isinstance(record.get("Id"), str):
        log.warning("a changed Lead without a readable Id and SystemModstamp was skipped")
        return None
    return stamp


def _advance(cursor: Cursor, taken: list[tuple[datetime, dict[str, Any]]]) -> Cursor:
    latest = max(stamp for stamp, _ in taken)
    ids = {record["Id"] for stamp, record in taken if stamp == latest}
    if latest == cursor.since:
        ids |= cursor.seen
    return Cursor(latest, frozenset(ids))
