"""Zendesk's event-subscribed webhooks for the tickets the API creates and updates.

One event to a request, in Zendesk's envelope: ``{"account_id", "detail": {the ticket, ids as
strings, status/priority/type in capitals as Zendesk sends them}, "event": {"current",
"previous", "meta": {"sequence"}}, "id", "subject": "zen:ticket:<id>", "time", "type":
"zen:event-type:ticket.<what>", "zendesk_event_version"}``. A create is ``ticket.created``; an
update is one event a watched attribute it changed, then ``ticket.comment_added`` for a comment.
The events of one update share a ``meta.sequence.id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from app.simulators.webhooks import Scheme, WebhookSender, zendesk_signature
from app.simulators.zendesk.store import CUSTOM_STATUS_IDS, Comment, Ticket, iso

ACCOUNT_ID = 9_242_270
EVENT_VERSION = "2022-11-06"
WEBHOOK_ID = "01JDZ5SIMULATEDWEBH00K0001"

SCHEME = Scheme(
    zendesk_signature,
    headers=(("X-Zendesk-Webhook-Id", WEBHOOK_ID), ("User-Agent", "Zendesk Webhook")),
)

#: A ticket attribute whose change raises an event → that event's type.
WATCHED: dict[str, str] = {
    "status": "ticket.status_changed",
    "priority": "ticket.priority_changed",
    "type": "ticket.type_changed",
    "subject": "ticket.subject_changed",
    "assignee_id": "ticket.agent_assignment_changed",
    "group_id": "ticket.group_assignment_changed",
    "requester_id": "ticket.requester_changed",
    "brand_id": "ticket.brand_changed",
    "external_id": "ticket.external_id_changed",
    "tags": "ticket.tags_changed",
}
_CAPITALISED = frozenset({"status", "priority", "type"})

#: What a ticket looked like before a write: its watched attributes and how many comments.
Snapshot = tuple[dict[str, Any], int]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _wire(name: str, value: Any) -> Any:
    """An attribute as the events render it: enums in capitals, ids as strings."""
    if value is None:
        return None
    if name in _CAPITALISED:
        return str(value).upper()
    if name.endswith("_id"):
        return str(value)
    return value


def detail(ticket: Ticket, actor_id: int) -> dict[str, Any]:
    return {
        "actor_id": str(actor_id),
        "assignee_id": _text(ticket.assignee_id),
        "brand_id": str(ticket.brand_id),
        "created_at": iso(ticket.created_at),
        "custom_status": str(CUSTOM_STATUS_IDS[ticket.status]),
        "description": ticket.description,
        "external_id": ticket.external_id,
        "group_id": _text(ticket.group_id),
        "id": str(ticket.id),
        "is_public": True,
        "organization_id": None,
        "priority": _wire("priority", ticket.priority),
        "requester_id": str(ticket.requester_id),
        "status": _wire("status", ticket.status),
        "subject": ticket.subject,
        "submitter_id": str(ticket.submitter_id),
        "tags": list(ticket.tags),
        "type": _wire("type", ticket.type),
        "updated_at": iso(ticket.updated_at),
        "via": {"channel": ticket.channel},
    }


def _change(name: str, previous: Any, current: Any) -> dict[str, Any]:
    if name == "tags":
        return {
            "tags_added": [t for t in current if t not in previous],
            "tags_removed": [t for t in previous if t not in current],
        }
    return {"current": _wire(name, current), "previous": _wire(name, previous)}


def _comment(comment: Comment) -> dict[str, Any]:
    return {
        "comment": {
            "id": str(comment.id),
            "body": comment.body,
            "is_public": comment.public,
            "author": {"id": str(comment.author_id)},
        }
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class TicketEvents:
    """Turns ticket writes into webhook events for ``sender``."""

    def __init__(self, sender: WebhookSender, clock: Callable[[], str] = _now) -> None:
        self.sender = sender
        self.clock = clock

    @staticmethod
    def snapshot(ticket: Ticket) -> Snapshot:
        values = {name: getattr(ticket, name) for name in WATCHED}
        values["tags"] = list(ticket.tags)
        return values, len(ticket.comments)

    def created(self, tickets: Iterable[Ticket], actor_id: int) -> None:
        if self.sender.target is None:
            return
        self.sender.emit(
            self._envelope("ticket.created", ticket, actor_id, {}, uuid.uuid4().hex, 1)
            for ticket in tickets
        )

    def updated(self, ticket: Ticket, before: Snapshot, actor_id: int) -> None:
        if self.sender.target is None:
            return
        values, comments = before
        changes = [
            (WATCHED[name], _change(name, values[name], getattr(ticket, name)))
            for name in WATCHED
            if values[name] != getattr(ticket, name)
        ]
        changes += [("ticket.comment_added", _comment(c)) for c in ticket.comments[comments:]]
        sequence = uuid.uuid4().hex
        self.sender.emit(
            self._envelope(kind, ticket, actor_id, event, sequence, position)
            for position, (kind, event) in enumerate(changes, start=1)
        )

    def _envelope(
        self,
        kind: str,
        ticket: Ticket,
        actor_id: int,
        event: dict[str, Any],
        sequence: str,
        position: int,
    ) -> dict[str, Any]:
        meta = {"sequence": {"id": sequence, "position": position}}
        return {
            "account_id": ACCOUNT_ID,
            "detail": detail(ticket, actor_id),
            "event": {**event, "meta": meta},
            "id": str(uuid.uuid4()),
            "subject": f"zen:ticket:{ticket.id}",
            "time": self.clock(),
            "type": f"zen:event-type:{kind}",
            "zendesk_event_version": EVENT_VERSION,
        }
