"""Write bodies from domain values: columns, choices by number, lookups bound by
``@odata.bind``. A value the org has no column or option for is refused here, before any
call, naming the caller's field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.connectors.dynamics.mapping import (
    CONTACT_COLUMNS,
    INCIDENT_COLUMNS,
    LEAD_COLUMNS,
    Columns,
    Vocabulary,
)
from app.connectors.errors import UpstreamRejected
from app.domain.models import LeadStatus, TicketStatus


def _refuse(source: str, field: str, code: str, message: str) -> UpstreamRejected:
    return UpstreamRejected(source, message, problems=[([field], code, message)])


def contact_body(
    source: str, values: Mapping[str, Any], cols: Columns, creating: bool
) -> dict[str, Any]:
    body = {CONTACT_COLUMNS[k]: v for k, v in values.items() if k in CONTACT_COLUMNS}
    extra = {"company": cols.company, "lifecycle_stage": cols.lifecycle, "brand": cols.brand}
    for field, column in extra.items():
        if values.get(field) is None:
            continue
        if column is not None:
            body[column] = values[field]
        elif field == "company" or not creating:
            # A new contact without a lifecycle column simply has none (a conversion names
            # one); changing it, or a company without a text column, cannot be done.
            raise _refuse(
                source, field, "UNSUPPORTED", f"this Dynamics source keeps no {field} column"
            )
    body.update(values.get("custom") or {})  # the config's columns
    return body


def lead_body(
    source: str, values: Mapping[str, Any], cols: Columns, words: Vocabulary
) -> dict[str, Any]:
    body: dict[str, Any] = {
        LEAD_COLUMNS[k]: v
        for k, v in values.items()
        if k in LEAD_COLUMNS and k not in ("lead_source", "status")
    }
    if values.get("brand"):
        body[cols.brand] = values["brand"]
    if values.get("lead_source"):
        number = words.lead_sources.get(str(values["lead_source"]).casefold())
        if number is None:
            raise _refuse(
                source,
                "lead_source",
                "INVALID_VALUE",
                "this org has no lead source of that name; its operator can add one in the "
                "source's lead_sources",
            )
        body["leadsourcecode"] = number
    if values.get("status"):
        status = LeadStatus[values["status"]]
        sent = words.lead_status.send.get(status)
        if sent is None:
            raise _refuse(
                source,
                "status",
                "INVALID_VALUE",
                f"this org has no lead status for {status.name}; its operator can map one in "
                "the source's lead_statuses",
            )
        body["statuscode"] = sent
    body.update(values.get("custom") or {})  # the config's columns
    return body


def incident_update(source: str, values: Mapping[str, Any], words: Vocabulary) -> dict[str, Any]:
    if "comment" in values:
        raise _refuse(
            source,
            "comment",
            "UNSUPPORTED",
            "comments on Dynamics cases are not supported: change the subject, status or priority",
        )
    body: dict[str, Any] = {}
    if "subject" in values:
        body["title"] = values["subject"]
    if "status" in values:
        status = TicketStatus[values["status"]]
        sent = words.ticket_status.send.get(status)
        if sent is None:
            raise _refuse(
                source, "status", "INVALID_VALUE", f"this org has no case status for {status.name}"
            )
        body["statuscode"] = sent
    if "priority" in values:
        body["prioritycode"] = _priority(source, values["priority"], words)
    body.update(values.get("custom") or {})  # the config's columns
    return body


def incident_create(
    source: str, values: Mapping[str, Any], contact_id: str, cols: Columns, words: Vocabulary
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": values["subject"],
        "description": values.get("description"),
        "customerid_contact@odata.bind": f"/contacts({contact_id})",
    }
    if values.get("priority"):
        body["prioritycode"] = _priority(source, values["priority"], words)
    if values.get("brand"):
        body[cols.brand] = values["brand"]
    body.update(values.get("custom") or {})  # the config's columns
    return body


def _priority(source: str, name: str, words: Vocabulary) -> int:
    number = words.priority(name)
    if number is None:
        raise _refuse(source, "priority", "INVALID_VALUE", f"this org has no priority {name}")
    return number


def new_contact(email: str, name: str | None, brand: str | None, cols: Columns) -> dict[str, Any]:
    """A requester unknown to the org, as a contact (Dataverse needs a last name)."""
    first, _, last = (name or "").strip().rpartition(" ")
    body: dict[str, Any] = {
        "firstname": first or None,
        "lastname": (last or email.split("@")[0])[:50],
        "emailaddress1": email,
    }
    if brand:
        body[cols.brand] = brand
    return body


def columns_of(entity: str, cols: Columns) -> dict[str, str]:
    """Column → domain field, to point a refusal at the caller's input."""
    table = {"contact": CONTACT_COLUMNS, "lead": LEAD_COLUMNS, "incident": INCIDENT_COLUMNS}
    found = {column: field for field, column in table[entity].items()}
    found[cols.brand] = "brand"
    if entity == "contact":
        for field, column in (("company", cols.company), ("lifecycle_stage", cols.lifecycle)):
            if column:
                found[column] = field
    if entity == "incident":
        found["customerid_contact"] = "requester_email"
    return found
