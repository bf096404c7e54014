"""The live check: ask every configured CRM what it has, and report what the config and the
field maps name that it lacks.

Each vendor's own module reads its metadata and words its findings
(``app/connectors/<vendor>/describe.py``); this one runs them side by side, sorts a CRM that
cannot be reached from one that answered, and adds the source's name to each finding. It
serves ``crmgraph config check --live`` and the gateway's check at startup (``/readyz``).

Severity: an ``error`` is something reads or writes depend on that the CRM does not have (a
missing field or property, a configured brand or status value it lacks, credentials it
refuses); a ``warning`` is something the CRM cannot do that crmgraph refuses cleanly or
reads as "no value" (a status of ours the org has no value for, a value none of ours means).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.config import Settings
from app.connectors.errors import UpstreamAuthFailed, UpstreamError, UpstreamTimeout
from app.connectors.errors import UpstreamUnavailable as Unreachable
from app.connectors.http import UpstreamClient
from app.connectors.hubspot import HubSpotClient
from app.connectors.hubspot import describe as hubspot
from app.connectors.metadata import Finding
from app.connectors.salesforce import SalesforceClient
from app.connectors.salesforce import describe as salesforce
from app.connectors.salesforce.auth import SalesforceClientCredentials
from app.connectors.secret import LiveSecret
from app.connectors.zendesk import ZendeskClient
from app.connectors.zendesk import describe as zendesk
from app.connectors.zendesk.client import ZendeskTokenAuth


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    path: str
    message: str
    severity: str = "error"

    def line(self) -> str:
        return f"{self.severity}: {self.source}: {self.path}: {self.message}"

    def as_json(self) -> dict[str, str]:
        return {
            "source": self.source,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass(slots=True)
class LiveReport:
    problems: list[Problem] = field(default_factory=list)
    #: Source name → why it could not be asked.
    unreachable: dict[str, str] = field(default_factory=dict)
    #: What the lead org said, for the gateway's client to learn from (None: not read).
    leads: salesforce.LeadMetadata | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


@dataclass(frozen=True, slots=True)
class Connectors:
    customers: HubSpotClient
    leads: SalesforceClient
    tickets: ZendeskClient


async def check(settings: Settings, connectors: Connectors) -> LiveReport:
    """Ask the customer, lead and ticket CRMs at once (the player-stats service publishes
    no metadata to check)."""
    report = LiveReport()
    names = settings.entities
    await asyncio.gather(
        _guarded(report, names.customer, _customers(settings, connectors.customers)),
        _guarded(report, names.lead, _leads(settings, connectors.leads, report)),
        _guarded(report, names.ticket, _tickets(settings, connectors.tickets)),
    )
    order = {name: i for i, name in enumerate(settings.sources)}
    report.problems.sort(key=lambda p: (p.severity != "error", order.get(p.source, 0)))
    return report


async def run_live_check(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> LiveReport:
    """The check over connectors of its own: one attempt per call, no breaker, no budget,
    so that it neither waits on nor counts toward the gateway's resilience state."""
    connectors, clients = bare_connectors(settings, transport)
    try:
        return await check(settings, connectors)
    finally:
        for client in clients:
            await client.aclose()


def bare_connectors(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[Connectors, list[UpstreamClient]]:
    hub, sf, zd, _ = settings.entity_sources()
    names = settings.entities
    clients: list[UpstreamClient] = []

    def http(name: str, auth: httpx.Auth | None = None) -> UpstreamClient:
        source = settings.sources[name]
        client = UpstreamClient(
            name,
            source.url,
            timeout=httpx.Timeout(source.timeout.read, connect=source.timeout.connect),
            max_connections=2,
            auth=auth,
            transport=transport,
        )
        clients.append(client)
        return client

    player = hub.player_id_property if settings.linking.player == "property" else None
    customers = HubSpotClient(
        names.customer,
        http(names.customer),
        LiveSecret(hub.auth.token.read, hub.auth.token.file),
        brand_property=hub.brand_property,
        player_id_property=player,
    )
    sf_auth = SalesforceClientCredentials(
        names.lead,
        f"{sf.url}/services/oauth2/token",
        LiveSecret(sf.auth.client_id.read, sf.auth.client_id.file),
        LiveSecret(sf.auth.client_secret.read, sf.auth.client_secret.file),
    )
    leads = SalesforceClient(
        names.lead,
        http(names.lead, sf_auth),
        api_version=sf.api_version,
        brand_field=sf.brand_field,
        extra_statuses=sf.lead_statuses,
    )
    zd_auth = ZendeskTokenAuth(
        zd.auth.email, LiveSecret(zd.auth.api_token.read, zd.auth.api_token.file)
    )
    tickets = ZendeskClient(names.ticket, http(names.ticket, zd_auth), brands=zd.brands)
    return Connectors(customers, leads, tickets), clients


async def _customers(settings: Settings, client: HubSpotClient) -> list[Finding]:
    properties = await hubspot.contact_properties(client)
    return hubspot.problems(
        f"sources.{client.name}",
        properties,
        client.brand_property,
        client.player_id_property,
        client.map.wire_fields(),
        settings.brands,
    )


async def _leads(settings: Settings, client: SalesforceClient, report: LiveReport) -> list[Finding]:
    metadata = await salesforce.read_lead_metadata(client)
    report.leads = metadata
    wire = [*client.map.wire_fields(), "SystemModstamp"]  # the poller's cursor
    return salesforce.problems(
        f"sources.{client.name}", metadata, client.brand_field, wire, client.overrides
    )


async def _tickets(settings: Settings, client: ZendeskClient) -> list[Finding]:
    source = settings.sources[client.name]
    brands: dict[int, str] = getattr(source, "brands", {})
    return zendesk.problems(f"sources.{client.name}", await zendesk.account_setup(client), brands)


async def _guarded(report: LiveReport, name: str, work: Any) -> None:
    """Run one source's check; file its findings, or why it could not be asked."""
    try:
        findings: list[Finding] = await work
    except (Unreachable, UpstreamTimeout) as exc:
        report.unreachable[name] = exc.message
        return
    except UpstreamAuthFailed as exc:
        findings = [
            Finding(f"sources.{name}.auth", f"the CRM refused the credentials: {exc.message}")
        ]
    except (UpstreamError, ValueError) as exc:
        message = getattr(exc, "message", str(exc))
        findings = [Finding(f"sources.{name}", f"its metadata could not be read: {message}")]
    report.problems += [Problem(name, f.path, f.message, f.severity) for f in findings]
