"""Salesforce, as a kind of source: Leads serve leads."""

from __future__ import annotations

from app.connectors.base import LeadWriter
from app.connectors.kind import BuildContext, ConnectorKind
from app.connectors.salesforce import describe
from app.connectors.salesforce.auth import SalesforceClientCredentials
from app.connectors.salesforce.client import SalesforceClient
from app.connectors.salesforce.ratelimit import SalesforceRates
from app.connectors.salesforce.settings import SalesforceSource


def build(settings: SalesforceSource, ctx: BuildContext) -> LeadWriter:
    auth = SalesforceClientCredentials(
        ctx.name,
        f"{settings.url}/services/oauth2/token",
        settings.auth.client_id.live(),
        settings.auth.client_secret.live(),
    )
    return SalesforceClient(
        ctx.name,
        ctx.http(auth),
        api_version=settings.api_version,
        brand_field=settings.brand_field,
        extra_statuses=settings.lead_statuses,
        custom=ctx.wires("lead"),
    )


KIND = ConnectorKind(
    "salesforce", SalesforceSource, frozenset({"lead"}), SalesforceRates(), build, describe.check
)
