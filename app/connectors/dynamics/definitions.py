"""What a Dataverse environment's table definitions say, read the Web API's way
(``EntityDefinitions``) in one ``$batch``: each table's attributes
(``…/Attributes?$select=LogicalName,AttributeType``) and the option sets crmgraph maps (a
cast of the column to ``StatusAttributeMetadata`` or ``PicklistAttributeMetadata`` with
``$expand=OptionSet``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.connectors.dynamics.batch import Answer, Part
from app.connectors.errors import UpstreamProtocolError

if TYPE_CHECKING:
    from app.connectors.dynamics.client import DynamicsClient

#: Entity set → table (logical name).
LOGICAL = {"contacts": "contact", "leads": "lead", "incidents": "incident"}
#: The option sets crmgraph maps: (table, column, the attribute's metadata type).
OPTION_SETS = (
    ("lead", "statuscode", "StatusAttributeMetadata"),
    ("lead", "leadsourcecode", "PicklistAttributeMetadata"),
    ("incident", "statuscode", "StatusAttributeMetadata"),
    ("incident", "prioritycode", "PicklistAttributeMetadata"),
)
NOT_FOUND = 404


@dataclass(frozen=True, slots=True)
class Definitions:
    """Table → its attributes' logical names (None: the environment has no such table), and
    (table, column) → the option set's values and labels (absent: not read)."""

    attributes: dict[str, frozenset[str] | None]
    options: dict[tuple[str, str], dict[int, str]]


def attribute(column: str) -> str:
    """The attribute a Web API property belongs to: ``_x_value`` (a lookup) is ``x``."""
    if column.startswith("_") and column.endswith("_value"):
        return column[1:].removesuffix("_value")
    return column


def _entity(table: str) -> str:
    return f"EntityDefinitions(LogicalName='{table}')"


def parts() -> list[Part]:
    """The GETs: one per table, one per option set."""
    found = [
        Part("GET", f"{_entity(t)}/Attributes", {"$select": "LogicalName,AttributeType"})
        for t in LOGICAL.values()
    ]
    found += [
        Part(
            "GET",
            f"{_entity(t)}/Attributes(LogicalName='{c}')/Microsoft.Dynamics.CRM.{cast}",
            {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
        )
        for t, c, cast in OPTION_SETS
    ]
    return found


async def read(client: DynamicsClient) -> Definitions:
    """The environment's definitions (one ``$batch``); a refusal other than "not found"
    raises what its status means."""
    answers = await client.api.batch(parts(), idempotent=True)
    tables, sets = answers[: len(LOGICAL)], answers[len(LOGICAL) :]
    attributes: dict[str, frozenset[str] | None] = {}
    for table, answer in zip(LOGICAL.values(), tables, strict=True):
        body = _body(client, answer)
        rows = body.get("value") if body is not None else None
        if body is not None and not isinstance(rows, list):
            raise UpstreamProtocolError(client.name, f"the attributes of {table} are no list")
        attributes[table] = None if rows is None else frozenset(_names(rows))
    options: dict[tuple[str, str], dict[int, str]] = {}
    for (table, column, _), answer in zip(OPTION_SETS, sets, strict=True):
        body = _body(client, answer)
        if body is not None:
            options[(table, column)] = _options(body.get("OptionSet"))
    return Definitions(attributes, options)


def _body(client: DynamicsClient, answer: Answer) -> dict[str, Any] | None:
    """The answer's object; None when the table or column is not found."""
    if answer.status == NOT_FOUND:
        return None
    if answer.status >= 400:
        raise client.api.error(answer.status, answer.json_or_none(), answer.headers)
    body = answer.json_or_none()
    if not isinstance(body, dict):
        raise UpstreamProtocolError(client.name, "a metadata answer is not a JSON object")
    return body


def _names(rows: list[Any]) -> list[str]:
    return [str(r["LogicalName"]) for r in rows if isinstance(r, dict) and r.get("LogicalName")]


def _options(option_set: Any) -> dict[int, str]:
    """``OptionSet.Options[]``: each ``Value`` and its ``Label.UserLocalizedLabel.Label``."""
    found: dict[int, str] = {}
    listed = option_set.get("Options") if isinstance(option_set, dict) else None
    for option in listed if isinstance(listed, list) else []:
        value = option.get("Value") if isinstance(option, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            label = ((option.get("Label") or {}).get("UserLocalizedLabel") or {}).get("Label")
            found[value] = str(label or value)
    return found
