"""HubSpot's webhook events (v3 app events) for the contacts the API creates and changes.

The simulated app subscribes to ``contact.creation`` and ``contact.propertyChange`` (every
property). A create is one event; an update is one event a property whose value it changed
(``propertyValue`` is ``""`` for a cleared one). The events of one API call travel together as
one JSON array, at most 100 to a request; ``attemptNumber`` counts the retries of that request.
Companies and tickets send none: the gateway reads customers from contacts and tickets from
Zendesk.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.simulators.hubspot.store import CONTACTS, Record, millis
from app.simulators.webhooks import Scheme, WebhookSender, compact_json, hubspot_v3_signature

PORTAL_ID = 62_515_371
APP_ID = 4_180_927
SUBSCRIPTION_IDS = {"contact.creation": 2_471_001, "contact.propertyChange": 2_471_002}
MAX_EVENTS_PER_REQUEST = 100
#: Properties HubSpot maintains itself on every write: their changes raise no event.
_MAINTAINED = frozenset({CONTACTS.modified, "hs_object_id"})


def render(events: list[dict[str, Any]], attempt: int) -> bytes:
    return compact_json([{**event, "attemptNumber": attempt} for event in events])


SCHEME = Scheme(
    hubspot_v3_signature,
    render=render,
    headers=(("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/)"),),
)


class ContactEvents:
    """Turns contact writes into webhook event batches for ``sender``."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender
        # Microseconds at start-up, then counting: ids stay unique across resets and restarts,
        # so a receiver's de-duplication never swallows a new event.
        self._ids = itertools.count(time.time_ns() // 1000)

    def created(self, records: Iterable[Record]) -> None:
        if self.sender.target is None:
            return
        self._send(
            [self._event("contact.creation", record, changeFlag="CREATED") for record in records]
        )

    def changed(self, writes: Iterable[tuple[Record, Mapping[str, str]]]) -> None:
        """``writes``: each contact written, with its properties as they were before."""
        if self.sender.target is None:
            return
        events = []
        for record, before in writes:
            after = record.properties
            for name in sorted((before.keys() | after.keys()) - _MAINTAINED):
                if before.get(name) != after.get(name):
                    events.append(
                        self._event(
                            "contact.propertyChange",
                            record,
                            propertyName=name,
                            propertyValue=after.get(name, ""),
                        )
                    )
        self._send(events)

    def _event(self, kind: str, record: Record, **extra: str) -> dict[str, Any]:
        return {
            "eventId": next(self._ids),
            "subscriptionId": SUBSCRIPTION_IDS[kind],
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": millis(record.updated_at),
            "subscriptionType": kind,
            "attemptNumber": 0,
            "objectId": record.id,
            "changeSource": "CRM_API",
            **extra,
        }

    def _send(self, events: Sequence[dict[str, Any]]) -> None:
        step = MAX_EVENTS_PER_REQUEST
        self.sender.emit(events[i : i + step] for i in range(0, len(events), step))
