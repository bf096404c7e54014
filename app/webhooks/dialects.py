"""Every CRM's change events, by the ``kind`` their stored events carry.

Adding a CRM's webhooks is adding its ``app/connectors/<vendor>/webhooks.py`` (a
:class:`~app.webhooks.dialect.WebhookDialect`) and one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.connectors.hubspot.webhooks import DIALECT as HUBSPOT
from app.connectors.player_stats.webhooks import DIALECT as PLAYERS
from app.connectors.salesforce.webhooks import DIALECT as SALESFORCE
from app.connectors.zendesk.webhooks import DIALECT as ZENDESK
from app.webhooks.dialect import RoutedDialect, WebhookDialect

#: In the order of the entities they serve (customer, lead, ticket, player stats).
DIALECTS: dict[str, WebhookDialect[Any]] = {
    d.kind: d for d in (HUBSPOT, SALESFORCE, ZENDESK, PLAYERS)
}


def dialect_of(
    kind: str, dialects: Mapping[str, WebhookDialect[Any]] = DIALECTS
) -> WebhookDialect[Any] | None:
    """The dialect of events of ``kind``; None when no CRM's events are of that kind."""
    return dialects.get(kind)


def routes(
    dialects: Mapping[str, WebhookDialect[Any]] = DIALECTS,
) -> dict[str, RoutedDialect[Any]]:
    """The dialects delivered to ``POST /webhooks/<route>``, by route."""
    return {d.route: d for d in dialects.values() if isinstance(d, RoutedDialect)}
