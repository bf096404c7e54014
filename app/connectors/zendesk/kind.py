"""Zendesk, as a kind of source: tickets serve tickets."""

from __future__ import annotations

from app.connectors.base import TicketWriter
from app.connectors.kind import BuildContext, ConnectorKind
from app.connectors.zendesk import describe
from app.connectors.zendesk.client import ZendeskClient, ZendeskTokenAuth
from app.connectors.zendesk.ratelimit import ZendeskRates
from app.connectors.zendesk.settings import ZendeskSource


def build(settings: ZendeskSource, ctx: BuildContext) -> TicketWriter:
    auth = ZendeskTokenAuth(settings.auth.email, settings.auth.api_token.live())
    return ZendeskClient(
        ctx.name, ctx.http(auth), brands=settings.brands, custom=ctx.wires("ticket")
    )


KIND = ConnectorKind(
    "zendesk", ZendeskSource, frozenset({"ticket"}), ZendeskRates(), build, describe.check
)
