"""What a Dataverse environment has (its table definitions, :mod:`definitions`), checked
against what the config and the field maps name.

Each column crmgraph reads that its table lacks is an error, at the setting or custom field
naming it. Each option value the source's vocabulary maps (the config's maps over Dataverse's
defaults) that the org's option set lacks is an error at ``sources.<name>.<setting>.<value>``,
and so is a default value crmgraph writes for one of its statuses (writes of it fail); a
default nothing is written as, and an org value none of ours means (a row holding it is read
without that field), are warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.connectors.dynamics import definitions
from app.connectors.dynamics.definitions import LOGICAL, Definitions, attribute
from app.connectors.dynamics.mapping import (
    OptionSet,
    Vocabulary,
    contact_map,
    incident_map,
    lead_map,
)
from app.connectors.dynamics.settings import (
    LEAD_SOURCES,
    LEAD_STATUSES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
)
from app.connectors.metadata import CheckContext, Checked, Finding

if TYPE_CHECKING:
    from app.connectors.dynamics.client import DynamicsClient, Table

#: Entity set → the config's entity whose custom fields it serves.
ENTITIES = {"contacts": "customer", "leads": "lead", "incidents": "ticket"}


def settings_of(client: DynamicsClient) -> dict[str, str]:
    """Column → the setting that names it."""
    cols = client.cols
    named = {
        "brand_column": cols.brand,
        "player_id_column": cols.player_id,
        "company_column": cols.company,
        "lifecycle_column": cols.lifecycle,
    }
    return {column: setting for setting, column in named.items() if column}


def custom_of(client: DynamicsClient, table: Table) -> dict[str, str]:
    """Column → the custom field (of the config) reading it, for the fields crmgraph's own
    map of the table does not have."""
    own = {
        "contacts": contact_map(client.cols),
        "leads": lead_map(client.cols, client.words),
        "incidents": incident_map(client.cols, client.words),
    }[table.entity_set]
    found: dict[str, str] = {}
    for name, spec in table.map.fields.items():
        if name not in own.fields:
            for read in spec.reads:
                found.setdefault(read.split(".")[0].split("@")[0], name)
    return found


def column_problems(client: DynamicsClient, known: Definitions) -> list[Finding]:
    """Each table the environment lacks (a warning), each column crmgraph reads that its
    table lacks (an error, at the setting or custom field naming it)."""
    path = f"sources.{client.name}"
    named = settings_of(client)
    found: list[Finding] = []
    for table in (client.contacts, client.leads, client.incidents):
        logical = LOGICAL[table.entity_set]
        attributes = known.attributes.get(logical)
        if attributes is None:
            message = f"the environment has no {logical} table: what it would serve cannot be read"
            found.append(Finding(path, message, "warning"))
            continue
        custom = custom_of(client, table)
        for column in dict.fromkeys(w.split("@")[0] for w in table.map.wire_fields()):
            if attribute(column) in attributes:
                continue
            message = f"the {logical} table has no column {attribute(column)}"
            if column in named:
                where = f"{path}.{named[column]}"
                message += f"; set {named[column]} to the column's logical name"
            elif column in custom:
                entity = ENTITIES[table.entity_set]
                where = f"entities.{entity}.fields.{custom[column]}.path"
            else:
                where, message = path, f"{message}, which crmgraph reads"
            found.append(Finding(where, message))
    return found


def choice_problems(path: str, words: Vocabulary, known: Definitions) -> list[Finding]:
    """Every mapped value the org's option sets lack, and every org value none maps."""
    sets: list[tuple[str, str, str, OptionSet[Any], Mapping[int, Any]]] = [
        ("lead", "statuscode", "lead_statuses", words.lead_status, LEAD_STATUSES),
        ("incident", "statuscode", "ticket_statuses", words.ticket_status, TICKET_STATUSES),
        ("incident", "prioritycode", "ticket_priorities", words.ticket_priority, TICKET_PRIORITIES),
    ]
    found: list[Finding] = []
    for table, column, setting, choice, defaults in sets:
        org = known.options.get((table, column))
        if org is not None:
            where = f"{path}.{setting}"
            found += _mapped(where, f"{table}.{column}", choice, defaults, org)
            found += _unmapped(where, choice, org)
    org = known.options.get(("lead", "leadsourcecode"))
    if org is not None:
        found += _sources(f"{path}.lead_sources", words.lead_sources, org)
    return found


def _mapped(
    where: str,
    name: str,
    choice: OptionSet[Any],
    defaults: Mapping[int, Any],
    org: dict[int, str],
) -> list[Finding]:
    found = []
    for number, meaning in choice.read.items():
        if number in org:
            continue
        lacks = f"the org's {name} option set has no value {number}"
        ours = str(meaning.name)
        written = choice.send.get(meaning) == number
        if defaults.get(number) is not meaning:  # the config's own
            found.append(Finding(f"{where}.{number}", f"{lacks} (mapped to {ours})"))
        elif written:
            found.append(
                Finding(
                    where,
                    f"{lacks}, Dataverse's default for {ours}, which crmgraph writes for it; "
                    f"map one of the org's values ({_listed(org)}) to {ours} in {where}",
                )
            )
        else:
            message = f"{lacks} (Dataverse's default, read as {ours}; never written)"
            found.append(Finding(where, message, "warning"))
    return found


def _unmapped(where: str, choice: OptionSet[Any], org: dict[int, str]) -> list[Finding]:
    meanings = ", ".join(dict.fromkeys(m.name for m in choice.read.values()))
    return [
        Finding(
            where,
            f"the org's {choice.what} {number} ({label}) means none of ours (a row holding it "
            f"is read without its {choice.what}); set {where} ({number}: one of {meanings})",
            "warning",
        )
        for number, label in org.items()
        if number not in choice.read
    ]


def _sources(where: str, sources: Mapping[str, int], org: dict[int, str]) -> list[Finding]:
    spelled = {label.casefold(): label for label in LEAD_SOURCES}
    defaults = {label.casefold(): number for label, number in LEAD_SOURCES.items()}
    found = []
    for key, number in sources.items():
        if number in org:
            continue
        label = spelled.get(key, key)
        lacks = f"the org's lead.leadsourcecode option set has no value {number}"
        if defaults.get(key) != number:
            found.append(Finding(f"{where}.{label}", f"{lacks} (for {label!r})"))
        else:
            message = f"{lacks}, Dataverse's default for {label!r}: a lead written with it fails"
            found.append(Finding(where, message, "warning"))
    return found


def _listed(org: dict[int, str]) -> str:
    return ", ".join(f"{n} {label}" for n, label in org.items()) or "none"


async def check(client: DynamicsClient, ctx: CheckContext) -> Checked:
    """The environment's definitions (one ``$batch``), and what they lack."""
    known = await definitions.read(client)
    path = f"sources.{client.name}"
    return Checked(column_problems(client, known) + choice_problems(path, client.words, known))
