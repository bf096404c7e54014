"""Salesforce's change events: no webhooks, but leads polled on ``SystemModstamp``
(:mod:`app.webhooks.poller`), each stored as an event and made a lead change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.connectors.salesforce.settings import SalesforceSource
from app.live.changes import Change
from app.mapping import converters
from app.webhooks.dialect import Poisoned, served_by
from app.webhooks.store import NewEvent, StoredEvent

if TYPE_CHECKING:
    from app.config import Settings


@dataclass(frozen=True, slots=True)
class SalesforceView:
    source: str
    brand_field: str | None


class SalesforceChanges:
    kind = "salesforce"
    entity = "lead"

    def polled(self, source: str, record: dict[str, Any]) -> NewEvent:
        """The event of one changed Lead ``record`` the poller read from ``source``: one per
        ``SystemModstamp``."""
        return NewEvent(
            f"{source}:{record['Id']}:{record['SystemModstamp']}",
            self.kind,
            {k: v for k, v in record.items() if k != "attributes"},
        )

    def view(self, settings: Settings) -> SalesforceView:
        name, sf = served_by(settings, self.entity, SalesforceSource)
        return SalesforceView(name, sf.brand_field)

    def normalise(self, event: StoredEvent, view: SalesforceView) -> Change:
        record = event.payload
        lead = record.get("Id")
        if not isinstance(lead, str) or not lead:
            raise Poisoned("a Salesforce change without its Lead Id")
        brand = record.get(view.brand_field) if view.brand_field else None
        try:
            stamp: datetime | None = converters.salesforce_datetime(record.get("SystemModstamp"))
        except converters.ConversionError as exc:
            raise Poisoned(f"the Lead's SystemModstamp: {exc}") from None
        return Change(
            event.event_id,
            "lead",
            view.source,
            f"{view.source}:{lead}",
            brand if isinstance(brand, str) else None,
            occurred_at=stamp.timestamp() if stamp else event.received_at,
        )


DIALECT = SalesforceChanges()
