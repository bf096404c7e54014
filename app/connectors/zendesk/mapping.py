"""Zendesk ticket fields → Ticket fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.mapping import converters as c
from app.mapping.fieldmap import FieldMap, wire


def ticket_map(brands: Mapping[int, str]) -> FieldMap:
    def brand(brand_id: Any) -> str | None:
        number = c.integer(brand_id)
        if number is None:
            return None
        if number not in brands:
            raise c.ConversionError(f"Zendesk brand {number} is not mapped to a brand")
        return brands[number]

    def requester(requester_id: Any) -> str | None:
        number = c.integer(requester_id)
        return None if number is None else str(number)

    return FieldMap(
        {
            "subject": wire("subject", convert=c.text),
            "description": wire("description", convert=c.text),
            "status": wire(
                "status",
                convert=lambda v: c.vocabulary(v, c.ZENDESK_TICKET_STATUSES, "ticket status"),
            ),
            "priority": wire(
                "priority",
                convert=lambda v: c.vocabulary(v, c.ZENDESK_TICKET_PRIORITIES, "ticket priority"),
            ),
            "created_at": wire("created_at", convert=c.iso_datetime),
            "updated_at": wire("updated_at", convert=c.iso_datetime),
            "brand": wire("brand_id", convert=brand),
            "requester_id": wire("requester_id", convert=requester),
        }
    )
