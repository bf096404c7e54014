"""Zendesk's webhooks (``POST /webhooks/zendesk``): ticket events, signed.

Signature: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret, timestamp +
raw body)), the timestamp as sent in ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601).
A delivery is one event object keyed by its ``id``; ticket events of the types Zendesk
documents become ticket changes, with the brand its ``brand_id`` maps to.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.connectors.zendesk.settings import ZendeskSource
from app.live.changes import Change
from app.mapping import converters
from app.webhooks.dialect import HookSettings, Malformed, Poisoned, served_by
from app.webhooks.payloads import member, numeric_id, string
from app.webhooks.signatures import Unsigned, digest, fresh, header
from app.webhooks.store import NewEvent, StoredEvent

if TYPE_CHECKING:
    from app.config import Settings, Webhooks

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
#: The prefix of a ticket event's ``type``, before the names above.
TICKET_EVENT = "zen:event-type:ticket."


def verify_zendesk(
    secret: str, body: bytes, headers: Mapping[str, str], now: float, tolerance: float
) -> None:
    signature = header(headers, "x-zendesk-webhook-signature")
    timestamp = header(headers, "x-zendesk-webhook-signature-timestamp")
    try:
        parsed = datetime.fromisoformat(timestamp)
        # An offset can push the first or last representable day out of range.
        signed_at = parsed.timestamp() if parsed.tzinfo is not None else None
    except (ValueError, OverflowError, OSError):
        raise Unsigned("X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time") from None
    if signed_at is None:
        raise Unsigned("X-Zendesk-Webhook-Signature-Timestamp has no time zone")
    fresh(signed_at, now, tolerance)
    expected = base64.b64encode(digest(secret, timestamp.encode() + body))
    if not hmac.compare_digest(expected, signature.encode()):
        raise Unsigned("X-Zendesk-Webhook-Signature does not match")


@dataclass(frozen=True, slots=True)
class ZendeskView:
    source: str
    brands: Mapping[int, str]


class ZendeskWebhooks:
    kind = "zendesk"
    route = "zendesk"
    entity = "ticket"

    def hook(self, webhooks: Webhooks) -> HookSettings | None:
        section = webhooks.zendesk
        return None if section is None else HookSettings((section.secret,), section.allow_ips)

    def verify(
        self,
        secrets: Sequence[str],
        method: str,
        uri: str,
        body: bytes,
        headers: Mapping[str, str],
        now: float,
        tolerance: float,
    ) -> None:
        verify_zendesk(secrets[0], body, headers, now, tolerance)

    def split(self, source: str, body: Any) -> list[NewEvent]:
        if not isinstance(body, dict):
            raise Malformed("the body must be a JSON object")
        where = "the event"
        string(body, "type", where)
        return [NewEvent(f"{source}:{string(body, 'id', where)}", self.kind, body)]

    def view(self, settings: Settings) -> ZendeskView:
        name, zd = served_by(settings, self.entity, ZendeskSource)
        return ZendeskView(name, zd.brands)

    def normalise(self, event: StoredEvent, view: ZendeskView) -> Change:
        body = event.payload
        kind = str(body.get("type"))
        if (
            not kind.startswith(TICKET_EVENT)
            or kind.removeprefix(TICKET_EVENT) not in ZENDESK_TYPES
        ):
            raise Poisoned(f"Zendesk event type {kind!r} is not one crmgraph follows")
        detail = member(body, "detail")
        subject = str(body.get("subject", ""))
        native = subject.removeprefix("zen:ticket:") if subject.startswith("zen:ticket:") else None
        ticket = numeric_id(native or detail.get("id"), "the Zendesk ticket id")
        brand = None
        if detail.get("brand_id") not in (None, ""):
            brand_id = int(numeric_id(detail.get("brand_id"), "the Zendesk brand_id"))
            if brand_id not in view.brands:
                raise Poisoned(
                    f"Zendesk brand {brand_id} is not mapped to a brand "
                    "(sources.<zendesk>.brands); replay the event once it is"
                )
            brand = view.brands[brand_id]
        field = ZENDESK_FIELDS.get(kind.removeprefix(TICKET_EVENT))
        change = member(body, "event")
        values = {field: change["current"]} if field and "current" in change else {}
        try:
            occurred = converters.iso_datetime(body.get("time"))
        except converters.ConversionError as exc:
            raise Poisoned(f"the Zendesk event time: {exc}") from None
        return Change(
            event.event_id,
            "ticket",
            view.source,
            f"{view.source}:{ticket}",
            brand,
            occurred_at=occurred.timestamp() if occurred else event.received_at,
            fields=(field,) if field else (),
            values=values,
        )


DIALECT = ZendeskWebhooks()
