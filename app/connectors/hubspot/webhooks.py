"""HubSpot's webhooks (``POST /webhooks/hubspot``): contact events, signed v3.

Signature v3: ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(app client secret, method +
full URI + raw body + timestamp)), the timestamp in ``X-HubSpot-Request-Timestamp`` (epoch
ms); the URI with the characters HubSpot lists (``%3A`` ``%2F`` ``%3F`` ...) decoded. A
delivery is a JSON array of events, each keyed by its ``eventId``; ``contact.*``
subscriptions become customer changes, naming the customer fields a property change reads.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.connectors.hubspot.mapping import customer_map
from app.connectors.hubspot.settings import HubSpotSource
from app.live.changes import Change
from app.mapping.fieldmap import FieldMap
from app.webhooks.dialect import HookSettings, Malformed, Poisoned, served_by
from app.webhooks.payloads import epoch_ms, fields_read, numeric_id, string, vendor_id
from app.webhooks.signatures import Unsigned, digest, epoch, fresh, header
from app.webhooks.store import NewEvent, StoredEvent

if TYPE_CHECKING:
    from app.config import Settings, Webhooks

#: The most events one delivery may carry (HubSpot sends at most 100).
MAX_EVENTS = 1000
#: The subscription types (their prefix) that are changes of a contact: of a customer.
CONTACT_PREFIX = "contact."

#: The URL-encoded characters HubSpot decodes in the URI before it signs (v3).
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ENCODED = re.compile("|".join(_DECODED), re.IGNORECASE)


def _signed_uri(uri: str) -> str:
    return _ENCODED.sub(lambda m: _DECODED[m.group(0).upper()], uri)


def verify_hubspot(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: float,
    tolerance: float,
) -> None:
    signature = header(headers, "x-hubspot-signature-v3")
    timestamp = header(headers, "x-hubspot-request-timestamp")
    fresh(epoch(timestamp, "X-HubSpot-Request-Timestamp") / 1000, now, tolerance)
    message = method.upper().encode() + _signed_uri(uri).encode() + body + timestamp.encode()
    expected = base64.b64encode(digest(secret, message))
    if not hmac.compare_digest(expected, signature.encode()):
        raise Unsigned("X-HubSpot-Signature-v3 does not match")


@dataclass(frozen=True, slots=True)
class HubSpotView:
    source: str
    brand_property: str
    customer_map: FieldMap


class HubSpotWebhooks:
    kind = "hubspot"
    route = "hubspot"
    entity = "customer"

    def hook(self, webhooks: Webhooks) -> HookSettings | None:
        section = webhooks.hubspot
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
        verify_hubspot(secrets[0], method, uri, body, headers, now, tolerance)

    def split(self, source: str, body: Any) -> list[NewEvent]:
        if not isinstance(body, list) or not body:
            raise Malformed("the body must be a non-empty JSON array of events")
        if len(body) > MAX_EVENTS:
            raise Malformed(f"at most {MAX_EVENTS} events a delivery")
        events = []
        for index, event in enumerate(body):
            where = f"event {index}"
            if not isinstance(event, dict):
                raise Malformed(f"{where} is not an object")
            string(event, "subscriptionType", where)
            vendor_id(event, "objectId", where)
            event_id = vendor_id(event, "eventId", where)
            events.append(NewEvent(f"{source}:{event_id}", self.kind, event))
        return events

    def view(self, settings: Settings) -> HubSpotView:
        name, hub = served_by(settings, self.entity, HubSpotSource)
        fmap = customer_map(hub.brand_property, hub.player_id_property)
        return HubSpotView(name, hub.brand_property, fmap)

    def normalise(self, event: StoredEvent, view: HubSpotView) -> Change:
        body = event.payload
        kind = str(body.get("subscriptionType"))
        if not kind.startswith(CONTACT_PREFIX):
            raise Poisoned(f"HubSpot event type {kind!r} is not one crmgraph follows")
        contact = numeric_id(body.get("objectId"), "the HubSpot objectId")
        prop, value = body.get("propertyName"), body.get("propertyValue")
        fields = fields_read(view.customer_map, [prop]) if isinstance(prop, str) else ()
        brand = value if prop == view.brand_property and isinstance(value, str) else None
        values = dict.fromkeys(fields, value) if prop is not None else {}
        return Change(
            event.event_id,
            "customer",
            view.source,
            f"{view.source}:{contact}",
            brand,
            occurred_at=epoch_ms(body.get("occurredAt")),
            fields=fields,
            values=values,
        )


DIALECT = HubSpotWebhooks()
