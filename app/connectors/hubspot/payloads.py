"""Request bodies in HubSpot's CRM v3 shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.connectors.base import CustomerQuery, TimeRange
from app.connectors.errors import UnsupportedQuery
from app.domain.models import Customer

CONTACTS = "/crm/v3/objects/contacts"
#: The contacts' search, which HubSpot limits apart from the account (see ``settings.py``).
SEARCH = f"{CONTACTS}/search"
BATCH_LIMIT = 100
SEARCH_PAGE_LIMIT = 200
#: The most results one search query gives, however it is paged.
SEARCH_RESULT_CAP = 10_000
#: Our own cursor of a list read on by id past the search's cap: this, then the last id read
#: (no cursor HubSpot gives starts so: its ``after`` is digits or base64).
PAST_ID = "~id~"
#: The most filters one group of a search takes, ANDed (HubSpot's developer changelog,
#: "Expanded Filtering Capabilities", August 2024). A customers filter is one group: its
#: own conditions come to 8 at most, so only custom fields can take it past.
MAX_FILTERS = 10


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
    _within_limit(filters, len(filters))
    return filters


def _within_limit(asked: list[dict[str, Any]], conditions: int, why: str = "") -> None:
    """Refuse ``asked`` past HubSpot's filters in a group, naming the caller's
    ``conditions`` and ``why`` the search needs more than them."""
    if len(asked) > MAX_FILTERS:
        raise UnsupportedQuery(
            "custom",
            f"makes the filter {conditions} conditions{why}; HubSpot's search takes at most "
            f"{MAX_FILTERS} together",
        )


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


def resume(position: str | None) -> tuple[str | None, str | None]:
    """A list's position as ``(after, floor)``: HubSpot's own ``after`` cursor, or the id the
    next page's contacts are past (:data:`PAST_ID`)."""
    if position is None or not position.startswith(PAST_ID):
        return position, None
    floor = position.removeprefix(PAST_ID)
    if not (floor.isascii() and floor.isdigit()):
        raise UnsupportedQuery("cursor", "is not a cursor this server issued")
    return None, floor


def next_position(after: str | None, by_id: bool, total: int, last: Customer | None) -> str | None:
    """Where the list goes on after an answer (``after``: its ``paging.next.after``; ``total``:
    what it says match; ``last``: its last contact), or None at its end."""
    if not by_id and after is not None:
        return after
    capped = not by_id and total > SEARCH_RESULT_CAP  # the query stopped at the cap, not its end
    if last is None or not (capped or (by_id and after is not None)):
        return None
    return past(last.id.native)


def past(contact_id: str) -> str:
    return f"{PAST_ID}{contact_id}"


def and_above(filters: list[dict[str, Any]], floor: str) -> list[dict[str, Any]]:
    """``filters`` and a contact id past ``floor``: a list read on past the search's cap."""
    asked = [*filters, {"propertyName": "hs_object_id", "operator": "GT", "value": floor}]
    why = (
        f"; past HubSpot's {SEARCH_RESULT_CAP:,}th contact the list reads on by id, "
        "which takes one more"
    )
    _within_limit(asked, len(filters), why)
    return asked
