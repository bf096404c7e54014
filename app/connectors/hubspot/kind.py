"""HubSpot, as a kind of source: contacts serve customers."""

from __future__ import annotations

from app.connectors.base import CustomerWriter
from app.connectors.hubspot import describe
from app.connectors.hubspot.client import HubSpotClient
from app.connectors.hubspot.ratelimit import HubSpotRates
from app.connectors.hubspot.settings import HubSpotSource
from app.connectors.kind import BuildContext, ConnectorKind


def build(settings: HubSpotSource, ctx: BuildContext) -> CustomerWriter:
    return HubSpotClient(
        ctx.name,
        ctx.http(None),
        settings.auth.token.live(),
        brand_property=settings.brand_property,
        player_id_property=settings.player_id_property if ctx.link_players else None,
        custom=ctx.wires("customer"),
    )


KIND = ConnectorKind(
    "hubspot", HubSpotSource, frozenset({"customer"}), HubSpotRates(), build, describe.check
)
