"""HubSpot's CRM Properties API: ``GET /crm/v3/properties/{objectType}`` lists an object type's
property definitions (``{"results": [{name, label, type, fieldType, options, ...}]}``) and
``POST /crm/v3/properties/{objectType}`` makes a custom one (``GET …/{propertyName}`` reads
one), which records then take, return and filter on like any other. The operator's own
properties (``brand``, ``player_id``, and those made here) are the ones not ``hubspotDefined``.
A data reset forgets the made ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulators.hubspot.dialect import error_body
from app.simulators.hubspot.store import HubSpotStore, Kind, ObjectSchema, PropertyDef, now_iso
from app.simulators.responses import JSONResponse

#: Properties the operator made (the rest are HubSpot's).
CUSTOM = frozenset({"brand", "player_id"})
#: When the account's properties were made (HubSpot's default ones, then the operator's).
CREATED = "2023-01-01T00:00:00Z"
_TYPES: dict[Kind, tuple[str, str]] = {
    Kind.STRING: ("string", "text"),
    Kind.EMAIL: ("string", "text"),
    Kind.NUMBER: ("number", "number"),
    Kind.DATETIME: ("datetime", "date"),
    Kind.ENUMERATION: ("enumeration", "select"),
}
PropertyType = Literal["string", "number", "bool", "datetime", "date", "enumeration"]
#: The field types HubSpot allows for each property type.
FIELD_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "phonenumber", "html", "file"}),
    "number": frozenset({"number", "calculation_equation"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "datetime": frozenset({"date"}),
    "date": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
}
_KINDS = {
    "string": Kind.STRING,
    "number": Kind.NUMBER,
    "bool": Kind.BOOL,
    "datetime": Kind.DATETIME,
    "date": Kind.DATE,
    "enumeration": Kind.ENUMERATION,
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_BOOL_OPTIONS = [
    {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
    {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
]
Resolve = Callable[[str], ObjectSchema]


class OptionInput(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    label: str
    value: str
    displayOrder: int = -1
    hidden: bool = False
    description: str = ""


class PropertyCreate(BaseModel):
    """The body of a create, as HubSpot's ``PropertyCreate`` schema names it."""

    model_config = ConfigDict(extra="ignore")
    name: str
    label: str
    type: PropertyType
    fieldType: str
    groupName: str
    description: str = ""
    options: list[OptionInput] = []
    displayOrder: int = -1
    hasUniqueValue: bool = False
    hidden: bool = False
    formField: bool = True


def property_definition(schema: ObjectSchema, prop: PropertyDef, order: int) -> dict[str, Any]:
    kind, field_type = _TYPES[prop.kind]
    custom = prop.name in CUSTOM
    return {
        "name": prop.name,
        "label": prop.name.replace("_", " ").title(),
        "type": kind,
        "fieldType": field_type,
        "description": "",
        "groupName": f"{schema.singular}information",
        "options": [
            {
                "label": value.replace("_", " ").title(),
                "value": value,
                "displayOrder": index,
                "hidden": False,
                "description": "",
            }
            for index, value in enumerate(prop.options)
        ],
        "displayOrder": order if custom else -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": prop.name in schema.unique,
        "hidden": False,
        "hubspotDefined": not custom,
        "formField": not prop.read_only,
        "modificationMetadata": {
            "archivable": custom,
            "readOnlyDefinition": not custom,
            "readOnlyValue": prop.read_only,
        },
        "createdAt": CREATED,
        "updatedAt": CREATED,
        "archived": False,
    }


def _problem(body: PropertyCreate) -> str | None:
    """Why HubSpot would refuse this definition, or None."""
    if not _NAME.match(body.name):
        return (
            f"Property name '{body.name}' is invalid: a property's internal name must start with "
            "a lowercase letter and contain only lowercase letters, digits and underscores"
        )
    if body.fieldType not in FIELD_TYPES[body.type]:
        return f"'{body.fieldType}' is not a valid field type for a property of type '{body.type}'"
    if body.options and body.type not in ("enumeration", "bool"):
        return f"Options are only allowed on enumeration and bool properties, not '{body.type}'"
    values = [o.value for o in body.options]
    if len(set(values)) != len(values):
        return f"Option values must be unique within a property: {values}"
    if body.type == "bool" and body.options and set(values) != {"true", "false"}:
        return "A bool property's options must have the values 'true' and 'false'"
    return None


def new_property(schema: ObjectSchema, body: PropertyCreate) -> tuple[PropertyDef, dict[str, Any]]:
    """The property a valid create makes, and the definition HubSpot answers with."""
    options = [o.model_dump() for o in body.options]
    if body.type == "bool" and not options:
        options = [dict(o, description="") for o in _BOOL_OPTIONS]
    for index, option in enumerate(options):
        if option["displayOrder"] < 0:
            option["displayOrder"] = index
    kind = _KINDS[body.type]
    multiple = body.type == "enumeration" and body.fieldType == "checkbox"
    values = tuple(o["value"] for o in options) if kind is Kind.ENUMERATION else ()
    prop = PropertyDef(body.name, kind, values, multiple=multiple)
    stamp = now_iso()
    definition = {
        "name": body.name,
        "label": body.label,
        "type": body.type,
        "fieldType": body.fieldType,
        "description": body.description,
        "groupName": body.groupName,
        "options": options,
        "displayOrder": body.displayOrder,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": body.hasUniqueValue,
        "hidden": body.hidden,
        "hubspotDefined": False,
        "formField": body.formField,
        "modificationMetadata": {
            "archivable": True,
            "readOnlyDefinition": False,
            "readOnlyValue": False,
        },
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
    }
    return prop, definition


def _invalid(message: str) -> Response:
    return JSONResponse(error_body("VALIDATION_ERROR", message), status_code=400)


def property_routes(resolve: Resolve, store: HubSpotStore) -> list[BaseRoute]:
    """The routes; ``resolve`` turns a path's object type into its schema (or answers 400)."""

    async def list_properties(request: Request) -> Response:
        schema = store.schemas[resolve(request.path_params["objectType"]).name]
        made = store.custom[schema.name]
        results = [
            made[prop.name] if prop.name in made else property_definition(schema, prop, order)
            for order, prop in enumerate(schema.properties.values())
        ]
        return JSONResponse({"results": results})

    async def read_property(request: Request) -> Response:
        schema = store.schemas[resolve(request.path_params["objectType"]).name]
        name = request.path_params["propertyName"]
        made = store.custom[schema.name]
        if name in made:
            return JSONResponse(made[name])
        if name not in schema.properties:
            message = f"Unable to find property with name {name} for object type {schema.name}"
            return JSONResponse(error_body("OBJECT_NOT_FOUND", message), status_code=404)
        order = list(schema.properties).index(name)
        return JSONResponse(property_definition(schema, schema.properties[name], order))

    async def create_property(request: Request) -> Response:
        schema = store.schemas[resolve(request.path_params["objectType"]).name]
        try:
            body = PropertyCreate.model_validate_json(await request.body() or b"")
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in error["loc"])
            return _invalid(f"Invalid input JSON: {where}: {error['msg']}")
        problem = _problem(body)
        if problem is not None:
            return _invalid(problem)
        if body.name in schema.properties:
            message = f"Property named '{body.name}' already exists."
            return JSONResponse(error_body("OBJECT_ALREADY_EXISTS", message), status_code=409)
        prop, definition = new_property(schema, body)
        store.add_property(schema.name, prop, definition)
        return JSONResponse(definition, status_code=201)

    path = "/crm/v3/properties/{objectType}"
    return [
        Route(path, list_properties, methods=["GET"]),
        Route(path, create_property, methods=["POST"]),
        Route(f"{path}/{{propertyName}}", read_property, methods=["GET"]),
    ]
