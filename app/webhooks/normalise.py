"""Vendor events in, :class:`~app.live.changes.Change` out.

Two steps, at two times. At intake, :func:`split` checks a delivery's shape (a wrong shape is
refused with 400, nothing stored) and cuts it into events, each with its de-duplication key.
In the worker, :class:`Normaliser` turns one stored event into a ``Change`` with the record's
public id, its brand when the event tells it, and the domain fields it names; an event that
can never become a change (an unknown type, an id that is not one, a brand the config does
not map) raises :class:`Poisoned`, and goes to the dead letters at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.config import Settings
from app.connectors.hubspot.mapping import customer_map
from app.connectors.player_stats.mapping import PLAYER_MAP
from app.live.changes import Change, Entity
from app.mapping import converters
from app.mapping.fieldmap import FieldMap
from app.webhooks.store import NewEvent, StoredEvent

#: The webhook routes, by the name of the entity whose source they are.
KINDS = ("hubspot", "zendesk", "players", "salesforce")
#: The most events one HubSpot delivery may carry (HubSpot sends at most 100).
MAX_EVENTS = 1000

#: Zendesk ticket event types (after ``ticket.``) naming the one ticket field they change.
ZENDESK_FIELDS = {
    "status_changed": "status",
    "priority_changed": "priority",
    "subject_changed": "subject",
    "description_changed": "description",
    "brand_changed": "brand",
    "requester_changed": "requester_id",
}
#: Every Zendesk ticket event type (after ``ticket.``) Zendesk documents: a change of the
#: ticket that forgetting its cached copy deals with. Any other type is a dead letter.
ZENDESK_TYPES = frozenset(
    {
        "created",
        *ZENDESK_FIELDS,
        "agent_assignment_changed",
        "attachment_linked_to_comment",
        "attachment_redacted_from_comment",
        "cc_added",
        "cc_removed",
        "comment_added",
        "comment_made_private",
        "comment_redacted",
        "custom_field_changed",
        "custom_status_changed",
        "external_id_changed",
        "follower_added",
        "follower_removed",
        "form_changed",
        "group_assignment_changed",
        "marked_as_spam",
        "merged",
        "organization_changed",
        "permanently_deleted",
        "problem_link_changed",
        "soft_deleted",
        "submitter_changed",
        "tags_changed",
        "type_changed",
        "undeleted",
    }
)
PLAYER_TYPES = ("player.stats.updated", "player.level.changed", "player.created")


class Malformed(ValueError):
    """A delivery whose JSON is not the shape its CRM documents (refused with 400)."""


class Poisoned(ValueError):
    """A stored event that can never become a change: no retry would help."""


def _vendor_id(event: dict[str, Any], key: str, where: str) -> str:
    value = event.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise Malformed(f"{where} has no {key!r} (a string or a number)")
    return str(value)


def _string(event: dict[str, Any], key: str, where: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{where} has no {key!r} string")
    return value


def split(kind: str, source: str, body: Any) -> list[NewEvent]:
    """The events of one delivery from ``kind`` (a webhook route), whose records belong to
    the configured source ``source``; raises :class:`Malformed`."""
    if kind == "hubspot":
        if not isinstance(body, list) or not body:
            raise Malformed("the body must be a non-empty JSON array of events")
        if len(body) > MAX_EVENTS:
            raise Malformed(f"at most {MAX_EVENTS} events a delivery")
        events = []
        for index, event in enumerate(body):
            where = f"event {index}"
            if not isinstance(event, dict):
                raise Malformed(f"{where} is not an object")
            _string(event, "subscriptionType", where)
            _vendor_id(event, "objectId", where)
            vendor_id = _vendor_id(event, "eventId", where)
            events.append(NewEvent(f"{source}:{vendor_id}", kind, event))
        return events
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object")
    where = "the event"
    _string(body, "type", where)
    if kind == "players":
        _string(body, "brand", where)
        _vendor_id(body, "player_id", where)
    return [NewEvent(f"{source}:{_string(body, 'id', where)}", kind, body)]


def _fields(fmap: FieldMap, wire_names: Iterable[str]) -> tuple[str, ...]:
    """The domain fields read from any of ``wire_names`` (top-level wire fields)."""
    names = set(wire_names)
    return tuple(
        field
        for field, spec in fmap.fields.items()
        if any(path.split(".")[0] in names for path in spec.reads)
    )


def _number(value: Any, what: str) -> str:
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise Poisoned(f"{what} {value!r} is not a numeric id")
    return text


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _epoch_ms(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Poisoned(f"the event time {value!r} is not epoch milliseconds")
    return float(value) / 1000


class Normaliser:
    """Turns stored events into changes, with the configured source names and brand maps."""

    def __init__(self, settings: Settings) -> None:
        entities = settings.entities
        hub, sf, zd, ps = settings.entity_sources()
        self.sources = {
            "hubspot": entities.customer,
            "salesforce": entities.lead,
            "zendesk": entities.ticket,
            "players": entities.player_stats,
        }
        self.hubspot_brand = hub.brand_property
        self.customer_map = customer_map(hub.brand_property, hub.player_id_property)
        self.salesforce_brand = sf.brand_field
        self.zendesk_brands = zd.brands
        self.player_brands = frozenset(ps.brands)

    def source_of(self, kind: str) -> str:
        return self.sources[kind]

    def change(self, event: StoredEvent) -> Change:
        """The change ``event`` announces; raises :class:`Poisoned`."""
        read = {
            "hubspot": self._hubspot,
            "zendesk": self._zendesk,
            "players": self._player,
            "salesforce": self._lead,
        }.get(event.kind)
        if read is None:
            raise Poisoned(f"no webhook source {event.kind!r}")
        return read(event)

    def _change(
        self, event: StoredEvent, entity: Entity, record: str, brand: str | None, **rest: Any
    ) -> Change:
        source = self.sources[event.kind]
        public_id = record if entity == "player" else f"{source}:{record}"
        return Change(event.event_id, entity, source, public_id, brand, **rest)

    def _hubspot(self, event: StoredEvent) -> Change:
        body = event.payload
        kind = str(body.get("subscriptionType"))
        if not kind.startswith("contact."):
            raise Poisoned(f"HubSpot event type {kind!r} is not one crmgraph follows")
        contact = _number(body.get("objectId"), "the HubSpot objectId")
        prop, value = body.get("propertyName"), body.get("propertyValue")
        fields = _fields(self.customer_map, [prop]) if isinstance(prop, str) else ()
        brand = value if prop == self.hubspot_brand and isinstance(value, str) else None
        values = dict.fromkeys(fields, value) if prop is not None else {}
        occurred = _epoch_ms(body.get("occurredAt"))
        return self._change(
            event, "customer", contact, brand, occurred_at=occurred, fields=fields, values=values
        )

    def _zendesk(self, event: StoredEvent) -> Change:
        body = event.payload
        kind = str(body.get("type"))
        prefix = "zen:event-type:ticket."
        if not kind.startswith(prefix) or kind.removeprefix(prefix) not in ZENDESK_TYPES:
            raise Poisoned(f"Zendesk event type {kind!r} is not one crmgraph follows")
        detail = _object(body, "detail")
        subject = str(body.get("subject", ""))
        native = subject.removeprefix("zen:ticket:") if subject.startswith("zen:ticket:") else None
        ticket = _number(native or detail.get("id"), "the Zendesk ticket id")
        brand = None
        if detail.get("brand_id") not in (None, ""):
            brand_id = int(_number(detail.get("brand_id"), "the Zendesk brand_id"))
            if brand_id not in self.zendesk_brands:
                raise Poisoned(
                    f"Zendesk brand {brand_id} is not mapped to a brand "
                    "(sources.<zendesk>.brands); replay the event once it is"
                )
            brand = self.zendesk_brands[brand_id]
        field = ZENDESK_FIELDS.get(kind.removeprefix(prefix))
        change = _object(body, "event")
        values = {field: change["current"]} if field and "current" in change else {}
        try:
            occurred = converters.iso_datetime(body.get("time"))
        except converters.ConversionError as exc:
            raise Poisoned(f"the Zendesk event time: {exc}") from None
        return self._change(
            event,
            "ticket",
            ticket,
            brand,
            occurred_at=occurred.timestamp() if occurred else event.received_at,
            fields=(field,) if field else (),
            values=values,
        )

    def _player(self, event: StoredEvent) -> Change:
        body = event.payload
        if body.get("type") not in PLAYER_TYPES:
            raise Poisoned(f"player-stats event type {body.get('type')!r} is not one it documents")
        brand = body.get("brand")
        if brand not in self.player_brands:
            raise Poisoned(f"player-stats brand {brand!r} is not one of this source's brands")
        changes = _object(body, "changes")
        return self._change(
            event,
            "player",
            str(body.get("player_id")),
            str(brand),
            occurred_at=_epoch_ms(body.get("occurred_at")),
            fields=_fields(PLAYER_MAP, changes),
            values=dict(changes),
        )

    def _lead(self, event: StoredEvent) -> Change:
        record = event.payload
        lead = record.get("Id")
        if not isinstance(lead, str) or not lead:
            raise Poisoned("a Salesforce change without its Lead Id")
        brand = record.get(self.salesforce_brand) if self.salesforce_brand else None
        try:
            stamp: datetime | None = converters.salesforce_datetime(record.get("SystemModstamp"))
        except converters.ConversionError as exc:
            raise Poisoned(f"the Lead's SystemModstamp: {exc}") from None
        return self._change(
            event,
            "lead",
            lead,
            brand if isinstance(brand, str) else None,
            occurred_at=stamp.timestamp() if stamp else event.received_at,
        )
