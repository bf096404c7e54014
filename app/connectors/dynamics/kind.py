"""Microsoft Dynamics 365, as a kind of source: contacts serve customers, leads serve leads,
incidents (cases) serve tickets — one client for all three."""

from __future__ import annotations

from app.connectors.dynamics import describe
from app.connectors.dynamics.auth import DynamicsClientCredentials
from app.connectors.dynamics.client import DynamicsClient
from app.connectors.dynamics.mapping import Columns, Vocabulary
from app.connectors.dynamics.ratelimit import DynamicsRates
from app.connectors.dynamics.settings import DynamicsSource
from app.connectors.kind import BuildContext, ConnectorKind


def build(settings: DynamicsSource, ctx: BuildContext) -> DynamicsClient:
    auth = DynamicsClientCredentials(
        ctx.name,
        settings.token_endpoint,
        f"{settings.url}/.default",
        settings.auth.client_id.live(),
        settings.auth.client_secret.live(),
    )
    columns = Columns.of(settings)
    if not ctx.link_players:
        columns = Columns(columns.brand, None, columns.company, columns.lifecycle)
    return DynamicsClient(
        ctx.name,
        ctx.http(auth),
        columns=columns,
        words=Vocabulary.of(settings),
        requester_link=settings.requester_link,
        custom={e: ctx.wires(e) for e in ("customer", "lead", "ticket")},
    )


KIND = ConnectorKind(
    "dynamics",
    DynamicsSource,
    frozenset({"customer", "lead", "ticket"}),
    DynamicsRates(),
    build,
    describe.check,
)
