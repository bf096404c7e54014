"""What a Salesforce org has: its Lead fields (``sobjects/Lead/describe``) and its Lead Status
values (the ``LeadStatus`` object: which value is the default, which the converted one).

:func:`vocabulary` turns the org's status values into the two tables the client needs — org
value → our ``LeadStatus`` for reading, our ``LeadStatus`` → org value for writing — from the
config's ``lead_statuses`` first, then what the org says (converted, default), then the
value's words. :func:`problems` lists what the config and the field map name that the org
lacks (errors), and each status of ours the org has no value for (warnings: the client
refuses such a write before sending it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.connectors.metadata import CheckContext, Checked, Finding
from app.domain.models import LeadStatus
from app.mapping.converters import SALESFORCE_LEAD_STATUSES

if TYPE_CHECKING:
    from app.connectors.salesforce.client import SalesforceClient

STATUS_QUERY = (
    "SELECT ApiName, MasterLabel, SortOrder, IsDefault, IsConverted FROM LeadStatus "
    "ORDER BY SortOrder ASC"
)
#: Words in a status value, strongest first, and the status they mean.
_WORDS: tuple[tuple[str, LeadStatus], ...] = (
    (r"\b(unqualified|disqualified|not converted|lost|junk|rejected)\b", LeadStatus.UNQUALIFIED),
    (r"\bqualified\b", LeadStatus.QUALIFIED),
    (r"\bconverted\b", LeadStatus.CONVERTED),
    (r"\b(not contacted|uncontacted)\b", LeadStatus.NEW),
    (
        r"\b(working|contact\w*|conversation|in progress|nurtur\w*|attempt\w*|engaged)\b",
        LeadStatus.WORKING,
    ),
    (r"\b(new|open|fresh|unread)\b", LeadStatus.NEW),
)


@dataclass(frozen=True, slots=True)
class StatusValue:
    """One value of the org's Lead Status picklist."""

    value: str
    label: str
    active: bool
    default: bool
    converted: bool


@dataclass(frozen=True, slots=True)
class LeadMetadata:
    """The org's Lead object as describe and LeadStatus tell it."""

    fields: frozenset[str]  # API names, lower-cased (they are case-insensitive)
    statuses: tuple[StatusValue, ...]
    restricted: bool  # the Status picklist refuses values it does not list

    def has(self, name: str) -> bool:
        return name.lower() in self.fields


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Org value (lower-cased) → our status, and our status → the org value to send."""

    read: dict[str, LeadStatus]
    send: dict[LeadStatus, str]
    default: str | None
    unmapped: tuple[str, ...] = field(default=())  # org values no rule gives a meaning
    spelled: tuple[str, ...] = field(default=())  # every org value, as the org spells it


async def read_lead_metadata(client: SalesforceClient) -> LeadMetadata:
    """Ask the org (two calls): describe Lead, then the LeadStatus rows."""
    described = await client.describe("Lead")
    fields = described.get("fields") if isinstance(described, dict) else None
    if not isinstance(fields, list):
        raise ValueError("the describe answer of Lead has no fields")
    names = frozenset(str(f.get("name", "")).lower() for f in fields if isinstance(f, dict))
    status_field: dict[str, Any] = next((f for f in fields if f.get("name") == "Status"), {})
    rows = await client.query(STATUS_QUERY)
    statuses = tuple(_status(row) for row in rows if isinstance(row, dict) and row.get("ApiName"))
    if not statuses:  # LeadStatus unreadable for this user: the picklist says most of it
        statuses = tuple(_from_picklist(status_field.get("picklistValues") or []))
    active = {
        p.get("value")
        for p in status_field.get("picklistValues") or []
        if isinstance(p, dict) and p.get("active", True)
    }
    if active:  # LeadStatus lists inactive values too; describe says which are active
        statuses = tuple(
            StatusValue(s.value, s.label, s.value in active, s.default, s.converted)
            for s in statuses
        )
    return LeadMetadata(names, statuses, bool(status_field.get("restrictedPicklist")))


def vocabulary(metadata: LeadMetadata, overrides: Mapping[str, LeadStatus]) -> Vocabulary:
    """How to read and write lead statuses in this org."""
    explicit = {k.lower(): v for k, v in overrides.items()}
    read: dict[str, LeadStatus] = {}
    unmapped = []
    for status in metadata.statuses:
        meaning = explicit.get(status.value.lower()) or _meaning(status)
        if meaning is None:
            unmapped.append(status.value)
        else:
            read[status.value.lower()] = meaning
    send: dict[LeadStatus, str] = {}
    ordered = sorted(metadata.statuses, key=lambda s: (not s.default, not s.active))
    for status in ordered:
        meaning = read.get(status.value.lower())
        if status.active and meaning is not None:
            send.setdefault(meaning, status.value)
    default = next((s.value for s in metadata.statuses if s.default), None)
    spelled = tuple(s.value for s in metadata.statuses)
    return Vocabulary(read, send, default, tuple(unmapped), spelled)


def problems(
    path: str,
    metadata: LeadMetadata,
    brand_field: str | None,
    wire_fields: Iterable[str],
    overrides: Mapping[str, LeadStatus],
) -> list[Finding]:
    """What the config (at ``path``, e.g. ``sources.salesforce``) and the field map name that
    the org does not have, and each status of ours the org has no value for."""
    found: list[Finding] = []
    if brand_field and not metadata.has(brand_field):
        found.append(
            Finding(
                f"{path}.brand_field",
                f"the org's Lead object has no field {brand_field}: every lead read names it; "
                "set brand_field to the org's brand field, or null if leads carry no brand",
            )
        )
    for name in dict.fromkeys(wire_fields):
        if name != brand_field and not metadata.has(name):
            found.append(
                Finding(path, f"the org's Lead object has no field {name}, which crmgraph reads")
            )
    values = {s.value.lower() for s in metadata.statuses}
    for value in overrides:
        if value.lower() not in values:
            found.append(
                Finding(
                    f"{path}.lead_statuses.{value}",
                    f"the org's Lead.Status picklist has no value {value!r}",
                )
            )
    words = vocabulary(metadata, overrides)
    for status in LeadStatus:
        if status not in words.send:
            found.append(
                Finding(
                    f"{path}.lead_statuses",
                    f"lead status {status.name}: the org's Lead.Status picklist has no value for "
                    f"it; set {path}.lead_statuses (<org value>: {status.name}), or add a value "
                    "to the picklist; until then crmgraph refuses that status",
                    "warning",
                )
            )
    for value in words.unmapped:
        found.append(
            Finding(
                f"{path}.lead_statuses",
                f"the org's lead status {value!r} means none of ours (a lead in it is read "
                f"without a status); set {path}.lead_statuses ({value!r}: one of "
                f"{', '.join(s.name for s in LeadStatus)})",
                "warning",
            )
        )
    return found


def _meaning(status: StatusValue) -> LeadStatus | None:
    if status.converted:
        return LeadStatus.CONVERTED
    known = SALESFORCE_LEAD_STATUSES.get(status.value.lower())
    if known is not None:
        return known
    for text in (status.value, status.label):
        for pattern, meaning in _WORDS:
            if meaning is not LeadStatus.CONVERTED and re.search(pattern, text, re.IGNORECASE):
                return meaning
    return LeadStatus.NEW if status.default else None


def _status(row: dict[str, Any]) -> StatusValue:
    value = str(row["ApiName"])
    return StatusValue(
        value=value,
        label=str(row.get("MasterLabel") or value),
        active=True,
        default=bool(row.get("IsDefault")),
        converted=bool(row.get("IsConverted")),
    )


def _from_picklist(entries: list[Any]) -> list[StatusValue]:
    return [
        StatusValue(
            value=str(e["value"]),
            label=str(e.get("label") or e["value"]),
            active=bool(e.get("active", True)),
            default=bool(e.get("defaultValue")),
            converted=False,
        )
        for e in entries
        if isinstance(e, dict) and e.get("value")
    ]


async def check(client: SalesforceClient, ctx: CheckContext) -> Checked:
    """The org's Lead fields and statuses; the gateway's client learns the statuses."""
    metadata = await read_lead_metadata(client)
    wire = [*client.map.wire_fields(), "SystemModstamp"]  # the poller's cursor
    findings = problems(
        f"sources.{client.name}", metadata, client.brand_field, wire, client.overrides
    )

    def learn(other: SalesforceClient) -> None:
        other.learn(metadata)

    return Checked(findings, learn)
