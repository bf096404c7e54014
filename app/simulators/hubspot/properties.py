"""``GET /crm/v3/properties/{objectType}``: the property definitions of an object type, as
HubSpot's CRM Properties API lists them (``{"results": [{name, label, type, fieldType,
options, ...}]}``). The operator's own properties (``brand``, ``player_id``) are the ones not
``hubspotDefined``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.simulators.hubspot.store import Kind, ObjectSchema, PropertyDef

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


def property_routes(resolve: Any) -> list[BaseRoute]:
    """The route; ``resolve`` turns a path's object type into its schema (or answers 400)."""

    async def list_properties(request: Request) -> Response:
        schema: ObjectSchema = resolve(request.path_params["objectType"])
        results = [
            property_definition(schema, prop, order)
            for order, prop in enumerate(schema.properties.values())
        ]
        return JSONResponse({"results": results})

    return [Route("/crm/v3/properties/{objectType}", list_properties, methods=["GET"])]
