"""What a Dataverse environment has, checked against the columns the config and the field
maps name: one ``$batch`` asking each table for each column (``$select=<column>&$top=1``).
Dataverse refuses a column it does not have (``Could not find a property named …``), and a
table it does not have (``Resource not found for the segment …``), which is what is read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.connectors.dynamics.batch import Answer, Part
from app.connectors.metadata import CheckContext, Checked, Finding

if TYPE_CHECKING:
    from app.connectors.dynamics.client import DynamicsClient, Table

NO_COLUMN = "Could not find a property named"
NO_TABLE = "0x8006088a"


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


async def check(client: DynamicsClient, ctx: CheckContext) -> Checked:
    tables = (client.contacts, client.leads, client.incidents)
    probes: list[tuple[Table, str]] = []
    for table in tables:
        columns = dict.fromkeys(w.split("@")[0] for w in table.map.wire_fields())
        probes += [(table, column) for column in columns]
    answers = await client.api.batch(
        [Part("GET", t.entity_set, {"$select": c, "$top": "1"}) for t, c in probes],
        idempotent=True,
    )
    return Checked(findings(client, probes, answers))


def findings(
    client: DynamicsClient, probes: list[tuple[Table, str]], answers: list[Answer]
) -> list[Finding]:
    path = f"sources.{client.name}"
    named = settings_of(client)
    found: list[Finding] = []
    missing_tables: set[str] = set()
    for (table, column), answer in zip(probes, answers, strict=True):
        if answer.status < 400:
            continue
        if NO_TABLE in answer.text:
            if table.entity_set not in missing_tables:
                missing_tables.add(table.entity_set)
                found.append(
                    Finding(
                        path,
                        f"the environment has no {table.entity_set} table: what it would "
                        "serve cannot be read",
                        "warning",
                    )
                )
            continue
        if answer.status == 400 and NO_COLUMN in answer.text:
            setting = named.get(column)
            where = f"{path}.{setting}" if setting else path
            advice = f"; set {setting} to the column's logical name" if setting else ""
            found.append(
                Finding(where, f"the {table.entity_set} table has no column {column}{advice}")
            )
            continue
        raise client.api.error(answer.status, answer.json_or_none(), answer.headers)
    return found
