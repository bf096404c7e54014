"""Request bodies in HubSpot's CRM v3 shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.connectors.base import CustomerQuery, TimeRange

BATCH_LIMIT = 100
SEARCH_PAGE_LIMIT = 200


def batch_read(ids: list[str], properties: list[str], id_property: str | None = None) -> Any:
    body: dict[str, Any] = {"inputs": [{"id": i} for i in ids], "properties": properties}
    if id_property:
        body["idProperty"] = id_property
    return body


def _millis(instant: datetime) -> str:
    return str(int(instant.timestamp() * 1000))


def _range(prop: str, span: TimeRange) -> list[dict[str, Any]]:
    filters = []
    if span.after is not None:
        filters.append({"propertyName": prop, "operator": "GTE", "value": _millis(span.after)})
    if span.before is not None:
        filters.append({"propertyName": prop, "operator": "LTE", "value": _millis(span.before)})
    return filters


def search_filters(query: CustomerQuery, brand_property: str) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if query.email:
        filters.append({"propertyName": "email", "operator": "EQ", "value": query.email})
    if query.brands is not None:
        filters.append(
            {"propertyName": brand_property, "operator": "IN", "values": list(query.brands)}
        )
    if query.company:
        filters.append({"propertyName": "company", "operator": "EQ", "value": query.company})
    if query.lifecycle_stage:
        filters.append(
            {"propertyName": "lifecyclestage", "operator": "EQ", "value": query.lifecycle_stage}
        )
    filters += _range("createdate", query.created)
    filters += _range("lastmodifieddate", query.updated)
    for path, value in query.custom:
        filters.append({"propertyName": path, "operator": "EQ", "value": _text(value)})
    return filters


def custom_properties(custom: dict[str, Any] | None) -> dict[str, Any]:
    """A write's custom fields (property → value) as HubSpot takes them: strings."""
    return {name: None if v is None else _text(v) for name, v in (custom or {}).items()}


def _text(value: Any) -> str:
    """HubSpot compares property values as strings (``true``, ``42``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def search(
    filters: list[dict[str, Any]], properties: list[str], limit: int, after: str | None
) -> Any:
    body: dict[str, Any] = {
        "filterGroups": [{"filters": filters}] if filters else [],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": properties,
        "limit": limit,
    }
    if after is not None:
        body["after"] = after
    return body
