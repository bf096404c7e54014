"""``EntityDefinitions``: the table definitions (metadata) of the environment, as the Web API
serves them — a table's attributes, and one choice column's option set through a cast to its
attribute type::

    GET EntityDefinitions(LogicalName='lead')/Attributes?$select=LogicalName,AttributeType
    GET EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')
        /Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet

A lookup is the attribute ``x`` (its value is the ``_x_value`` property of a row). Only
``$select`` and ``$expand=OptionSet`` are served; see tests/contract/specs/dynamics.md.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from app.simulators.dynamics.dialect import ApiError, bad_request
from app.simulators.dynamics.schema import Column, Kind, Table

CRM = "Microsoft.Dynamics.CRM"
NOT_FOUND = "0x80040217"
_IDS = uuid.UUID("0b6c3c52-1d7e-4f4e-8a53-6f1e2d9c7b10")
_PATH = re.compile(
    r"^\(LogicalName='(?P<table>[^']*)'\)/Attributes"
    r"(?:\(LogicalName='(?P<column>[^']*)'\)(?:/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+))?)?$"
)
#: Kind → (AttributeType, the metadata type's name).
_TYPES = {
    Kind.GUID: ("Uniqueidentifier", "UniqueIdentifierAttributeMetadata"),
    Kind.LOOKUP: ("Lookup", "LookupAttributeMetadata"),
    Kind.STRING: ("String", "StringAttributeMetadata"),
    Kind.INT: ("Integer", "IntegerAttributeMetadata"),
    Kind.BIGINT: ("BigInt", "BigIntAttributeMetadata"),
    Kind.CHOICE: ("Picklist", "PicklistAttributeMetadata"),
    Kind.DATETIME: ("DateTime", "DateTimeAttributeMetadata"),
}
_PROPERTIES = ("LogicalName", "SchemaName", "AttributeType", "IsCustomAttribute", "MetadataId")


def logical(column: Column) -> str:
    """The attribute's logical name: a lookup's ``_x_value`` property is attribute ``x``."""
    if column.kind is Kind.LOOKUP:
        return column.name.removeprefix("_").removesuffix("_value")
    return column.name


def attribute_type(column: Column) -> tuple[str, str]:
    if column.name == "statecode":
        return "State", "StateAttributeMetadata"
    if column.name == "statuscode":
        return "Status", "StatusAttributeMetadata"
    if column.kind is Kind.LOOKUP and column.name.endswith("customerid_value"):
        return "Customer", "LookupAttributeMetadata"
    if column.kind is Kind.STRING and (column.max_length or 0) > 4000:
        return "Memo", "MemoAttributeMetadata"
    return _TYPES[column.kind]


def _id(*names: str) -> str:
    return str(uuid.uuid5(_IDS, "/".join(names)))


def _properties(table: Table, column: Column) -> dict[str, Any]:
    name = logical(column)
    kind, type_name = attribute_type(column)
    return {
        "@odata.type": f"#{CRM}.{type_name}",
        "LogicalName": name,
        "SchemaName": name,
        "AttributeType": kind,
        "IsCustomAttribute": name.startswith("crmgraph_"),
        "MetadataId": _id(table.logical, name),
    }


def _selected(raw: str | None, allowed: Sequence[str]) -> list[str]:
    if raw is None:
        return list(allowed)
    names = [n.strip() for n in raw.split(",")]
    for name in names:
        if name not in allowed:
            raise bad_request(
                f"Could not find a property named '{name}' on type '{CRM}.AttributeMetadata'."
            )
    return names


def _pick(props: dict[str, Any], names: list[str]) -> dict[str, Any]:
    kept = {"@odata.type": props["@odata.type"]}
    return kept | {n: props[n] for n in names} | {"MetadataId": props["MetadataId"]}


def _label(text: str, key: str) -> dict[str, Any]:
    one = {
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": _id(key, text),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [one], "UserLocalizedLabel": one}


def option_set(table: Table, column: Column) -> dict[str, Any]:
    """The column's ``OptionSet``: ``Options[]`` with ``Value`` and ``Label`` (and, for a
    status reason, the ``State`` it belongs to)."""
    kind, _ = attribute_type(column)
    options = []
    for value, text in column.options.items():
        key = f"{table.logical}.{column.name}.{value}"
        option: dict[str, Any] = {}
        if kind in ("State", "Status"):
            option["@odata.type"] = f"#{CRM}.{kind}OptionMetadata"
        option |= {"Value": value, "Color": None, "IsManaged": True, "ExternalValue": None}
        option |= {"Label": _label(text, key), "Description": _label("", key)}
        if kind == "Status":
            option["State"] = table.status_state.get(value)
            option["TransitionData"] = None
        if kind == "State":
            option["DefaultStatus"] = table.default_status.get(value)
        options.append(option)
    return {
        "MetadataId": _id(table.logical, column.name, "optionset"),
        "HasChanged": None,
        "IsCustomOptionSet": column.name.startswith("crmgraph_"),
        "IsGlobal": False,
        "IsManaged": True,
        "Name": f"{table.logical}_{column.name}",
        "OptionSetType": kind,
        "Options": options,
    }


def serve(
    rest: str, query: Sequence[tuple[str, str]], tables: dict[str, Table], base: str
) -> dict[str, Any]:
    """The answer to ``GET EntityDefinitions{rest}``, or the :class:`ApiError` refusing it."""
    match = _PATH.match(rest)
    if match is None:
        segment = "EntityDefinitions" + rest.split("/", 1)[0]
        raise ApiError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")
    opts = dict(query)
    for option in opts:
        if option.startswith("$") and option not in ("$select", "$expand"):
            raise bad_request(f"The query parameter {option} is not supported (sim)")
    name = match["table"]
    table = next((t for t in tables.values() if t.logical == name), None)
    if table is None:
        raise ApiError(404, NOT_FOUND, f"Could not find entity with name '{name}'")
    root = f"{base}/$metadata#EntityDefinitions('{name}')/Attributes"
    if match["column"] is None:
        names = _selected(opts.get("$select"), _PROPERTIES)
        shown = f"({','.join(names)})" if "$select" in opts else ""
        rows = [_pick(_properties(table, c), names) for c in table.columns]
        return {"@odata.context": root + shown, "value": rows}
    return _one(table, match["column"], match["cast"], opts, root)


def _one(
    table: Table, name: str, cast: str | None, opts: dict[str, str], root: str
) -> dict[str, Any]:
    column = next((c for c in table.columns if logical(c) == name), None)
    if column is None:
        raise ApiError(
            404,
            NOT_FOUND,
            f"Could not find attribute with name '{name}' for entity '{table.logical}'",
        )
    props = _properties(table, column)
    type_name = props["@odata.type"].removeprefix(f"#{CRM}.")
    if cast is not None and cast != type_name:
        raise ApiError(404, "0x8006088a", f"Resource not found for the segment '{CRM}.{cast}'.")
    names = _selected(opts.get("$select"), _PROPERTIES)
    body = _pick(props, names)
    expand = opts.get("$expand")
    if expand is not None:
        if not re.fullmatch(r"OptionSet(\(\$select=Options\))?", expand.replace(" ", "")):
            raise bad_request(
                f"Could not find a property named '{expand}' on type '{CRM}.{type_name}'."
            )
        if column.kind is not Kind.CHOICE or cast is None:
            raise bad_request(
                f"Could not find a property named 'OptionSet' on type '{CRM}.AttributeMetadata'."
            )
        body["OptionSet"] = option_set(table, column)
        names.append("OptionSet")
    where = f"(LogicalName='{name}')" + (f"/{CRM}.{cast}" if cast else "")
    shown = f"({','.join(names)})" if "$select" in opts or expand else ""
    return {"@odata.context": f"{root}{where}{shown}/$entity"} | body
