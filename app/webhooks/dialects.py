"""Every CRM's change events, by the ``kind`` their stored events carry.

Adding a CRM's webhooks is adding its ``app/connectors/<vendor>/webhooks.py`` (a
:class:`~app.webhooks.dialect.WebhookDialect`) and one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.connectors.hubspot.webhooks import DIALECT as HUBSPOT
from app.connectors.player_stats.webhooks import DIALECT as PLAYERS
from app.connectors.salesforce.webhooks import DIALECT as SALESFORCE
from app.connectors.zendesk.webhooks import DIALECT as ZENDESK
from app.webhooks.dialect import RoutedDialect, WebhookDialect

if TYPE_CHECKING:
    from app.config import Settings

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


def in_use(
    settings: Settings, dialects: Mapping[str, WebhookDialect[Any]] = DIALECTS
) -> dict[str, tuple[WebhookDialect[Any], Any]]:
    """The dialects of the CRMs this config uses, each with its view of the settings: a CRM
    whose entity another kind serves (customers from Dynamics, not HubSpot) takes no events."""
    found: dict[str, tuple[WebhookDialect[Any], Any]] = {}
    for kind, dialect in dialects.items():
        try:
            found[kind] = (dialect, dialect.view(settings))
        except ValueError:
            continue
    return found
