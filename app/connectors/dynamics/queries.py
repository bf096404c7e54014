"""The ``$filter`` terms of the customer, lead and ticket lists. None: the query can match
nothing (an empty brand list, statuses the org has no value for), so nothing is asked."""

from __future__ import annotations

from typing import Any

from app.connectors.base import CustomerQuery, LeadQuery, TicketQuery
from app.connectors.dynamics.mapping import Columns, Vocabulary
from app.connectors.dynamics.payloads import literal, one_of, span
from app.connectors.errors import UnsupportedQuery


def _brands(cols: Columns, brands: tuple[str, ...] | None) -> list[str] | None:
    if brands is None:
        return []
    return [one_of(cols.brand, brands)] if brands else None


def customer_terms(query: CustomerQuery, cols: Columns) -> list[str] | None:
    terms = _brands(cols, query.brands)
    if terms is None:
        return None
    if query.email:
        terms.append(f"emailaddress1 eq {literal(query.email)}")
    if query.company:
        if cols.company is None:
            raise UnsupportedQuery("company", "cannot be filtered on: the org keeps no column")
        terms.append(f"{cols.company} eq {literal(query.company)}")
    if query.lifecycle_stage:
        if cols.lifecycle is None:
            raise UnsupportedQuery(
                "lifecycle_stage", "cannot be filtered on: the org keeps no column"
            )
        terms.append(f"{cols.lifecycle} eq {literal(query.lifecycle_stage)}")
    return (
        terms
        + _custom(query.custom)
        + span("createdon", query.created)
        + span("modifiedon", query.updated)
    )


def _custom(custom: tuple[tuple[str, Any], ...]) -> list[str]:
    """The config's columns matched: text quoted, numbers and booleans as OData writes them."""
    terms = []
    for column, value in custom:
        if isinstance(value, bool):
            terms.append(f"{column} eq {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            terms.append(f"{column} eq {value!r}")
        else:
            terms.append(f"{column} eq {literal(str(value))}")
    return terms


def lead_terms(query: LeadQuery, cols: Columns, words: Vocabulary) -> list[str] | None:
    terms = _brands(cols, query.brands)
    if terms is None:
        return None
    if query.email:
        terms.append(f"emailaddress1 eq {literal(query.email)}")
    if query.company:
        terms.append(f"companyname eq {literal(query.company)}")
    if query.statuses is not None:
        numbers = words.lead_status.numbers(query.statuses)
        if not numbers:
            return None
        terms.append(one_of("statuscode", [str(n) for n in numbers]))
    return (
        terms
        + _custom(query.custom)
        + span("createdon", query.created)
        + span("modifiedon", query.updated)
    )


def ticket_terms(query: TicketQuery, cols: Columns, words: Vocabulary) -> list[str] | None:
    """The terms but the requester's (its contact is looked up by the client)."""
    terms = _brands(cols, query.brands)
    if terms is None:
        return None
    if query.statuses is not None:
        numbers = words.ticket_status.numbers(query.statuses)
        if not numbers:
            return None
        terms.append(one_of("statuscode", [str(n) for n in numbers]))
    return (
        terms
        + _custom(query.custom)
        + span("createdon", query.created)
        + span("modifiedon", query.updated)
    )
