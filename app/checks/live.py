"""The live check: ask every configured CRM what it has, and report what the config and the
field maps name that it lacks.

Each kind's own check reads its metadata and words its findings (declared on the kind, in
``app/connectors/<vendor>/describe.py``); this one runs them side by side, sorts a CRM that
cannot be reached from one that answered, and adds the source's name to each finding. It
serves ``crmgraph config check --live`` and the gateway's check at startup (``/readyz``).

Severity: an ``error`` is something reads or writes depend on that the CRM does not have (a
missing field or property, a configured brand or status value it lacks, credentials it
refuses); a ``warning`` is something the CRM cannot do that crmgraph refuses cleanly or
reads as "no value" (a status of ours the org has no value for, a value none of ours means).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from app.config import Settings
from app.connectors.errors import UpstreamAuthFailed, UpstreamError, UpstreamTimeout
from app.connectors.errors import UpstreamUnavailable as Unreachable
from app.connectors.http import UpstreamClient
from app.connectors.kind import ENTITY_KEYS, BuildContext
from app.connectors.kinds import KINDS
from app.connectors.metadata import CheckContext, Checked, Finding


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
    #: Source name → how the gateway's connector of that source takes what the check read.
    learned: dict[str, Callable[[Any], None]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


async def check(settings: Settings, connectors: Mapping[str, Any]) -> LiveReport:
    """Ask every source that serves an entity, at once, by its kind's check (a kind that
    publishes no metadata, like the player-stats service, is not asked)."""
    report = LiveReport()
    context = CheckContext(tuple(settings.brands))
    runs = []
    for name, connector in connectors.items():
        asks = KINDS[settings.sources[name].kind].check
        if asks is not None:
            runs.append(_guarded(report, name, asks(connector, context)))
    await asyncio.gather(*runs)
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
) -> tuple[dict[str, Any], list[UpstreamClient]]:
    """A connector of every source serving an entity, built by its kind, over bare clients."""
    clients: list[UpstreamClient] = []

    def http(name: str, auth: httpx.Auth | None = None) -> UpstreamClient:
        source = settings.sources[name]
        client = UpstreamClient(
            name,
            source.url,
            timeout=httpx.Timeout(source.timeout.read, connect=source.timeout.connect),
            total=source.timeout.total,
            max_response_bytes=source.max_response_bytes,
            max_connections=2,
            auth=auth,
            transport=transport,
        )
        clients.append(client)
        return client

    link_players = settings.linking.player == "property"
    custom = settings.custom_fields()  # their paths are checked with the rest
    connectors: dict[str, Any] = {}
    for entity in ENTITY_KEYS:
        name, source = settings.source_of(entity)
        if name not in connectors:
            ctx = BuildContext(name, partial(http, name), link_players, custom)
            connectors[name] = KINDS[source.kind].build(source, ctx)
    return connectors, clients


async def _guarded(report: LiveReport, name: str, work: Awaitable[Checked]) -> None:
    """Run one source's check; file its findings, or why it could not be asked."""
    try:
        checked = await work
        findings = checked.findings
        if checked.learn is not None:
            report.learned[name] = checked.learn
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
