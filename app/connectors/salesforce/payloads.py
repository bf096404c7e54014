"""SOQL and request bodies in Salesforce's REST shapes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from app.connectors import urls
from app.connectors.base import LeadQuery, TimeRange
from app.connectors.urls import wire_length
from app.domain.models import LeadStatus

COLLECTION_LIMIT = 2000
#: Emails per ``WHERE Email IN (...)`` query, at most (fewer when they are long: ``packed``).
EMAILS_PER_QUERY = 150
#: The longest URI a GET is given, in bytes. Salesforce refuses a call whose URI and headers
#: come to more than 16,384 bytes together (414 URI Too Long, or 431); this leaves 4 KiB of
#: them for the headers (a bearer token, the trace context).
MAX_URI_BYTES = 12_288
#: The longest address a standard Email field holds: a longer one is no record's.
EMAIL_LENGTH = 80


_CONTROL = re.compile(r"[\x00-\x1f]")


def quotable(value: str) -> bool:
    """Whether ``value`` can be a SOQL string literal (control characters cannot)."""
    return _CONTROL.search(value) is None


def quote(value: str) -> str:
    """A SOQL string literal: backslashes and quotes escaped, control characters refused."""
    if not quotable(value):
        raise ValueError("SOQL string literals cannot hold control characters")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal(value: Any) -> str:
    """A SOQL literal of a custom field's value: a quoted string, a number, true or false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return quote(str(value))


def literal_datetime(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def literal_datetime_ms(instant: datetime) -> str:
    """A datetime literal to the millisecond (``SystemModstamp`` keeps milliseconds)."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def in_list(field: str, values: Iterable[str]) -> str:
    return f"{field} IN ({', '.join(quote(v) for v in values)})"


def uri_length(path: str, soql: str) -> int:
    """The bytes of ``GET {path}?q={soql}``'s URI, as httpx writes it."""
    return len(path) + 1 + len(str(httpx.QueryParams({"q": soql})))


def longest_value(query: LeadQuery) -> str:
    """The filter field of ``query`` whose value takes the most of a URL."""
    values = [("email", query.email), ("company", query.company)]
    values += [("custom", value) for _, value in query.custom]
    return max(values, key=lambda item: wire_length(str(item[1] or "")))[0]


def packed(values: Iterable[str], room: int, most: int = EMAILS_PER_QUERY) -> list[list[str]]:
    """``values`` in runs for ``in_list`` whose literals take at most ``room`` bytes of a URL."""
    return urls.packed(values, quote, ", ", room, most)


def _range(field: str, span: TimeRange) -> list[str]:
    found = []
    if span.after is not None:
        found.append(f"{field} >= {literal_datetime(span.after)}")
    if span.before is not None:
        found.append(f"{field} <= {literal_datetime(span.before)}")
    return found


def status_condition(
    statuses: Iterable[LeadStatus], table: Mapping[str, LeadStatus], picklist: Iterable[str]
) -> str:
    """Our statuses as a condition on Salesforce's ``Status`` picklist and ``IsConverted``."""
    parts = []
    wanted = set(statuses)
    if LeadStatus.CONVERTED in wanted:
        parts.append("IsConverted = true")
    values = [v for v in picklist if table.get(v.lower()) in wanted - {LeadStatus.CONVERTED}]
    if values:
        parts.append(f"({in_list('Status', values)} AND IsConverted = false)")
    return "(" + " OR ".join(parts) + ")" if parts else "Id = null"


def lead_conditions(
    query: LeadQuery,
    brand_field: str | None,
    table: Mapping[str, LeadStatus],
    picklist: Iterable[str],
) -> list[str]:
    conditions = []
    if query.email:
        conditions.append(f"Email = {quote(query.email)}")
    if query.brands is not None and brand_field:
        conditions.append(in_list(brand_field, query.brands) if query.brands else "Id = null")
    if query.company:
        conditions.append(f"Company = {quote(query.company)}")
    if query.statuses is not None:
        conditions.append(status_condition(query.statuses, table, picklist))
    conditions += _range("CreatedDate", query.created)
    conditions += _range("LastModifiedDate", query.updated)
    for path, value in query.custom:
        conditions.append(f"{path} = {literal(value)}")
    return conditions


def after_cursor(created: str, lead_id: str) -> str:
    """Keyset paging on (CreatedDate DESC, Id DESC): the rows strictly after a cursor row."""
    stamp = literal_datetime(datetime.fromisoformat(created))
    return f"(CreatedDate < {stamp} OR (CreatedDate = {stamp} AND Id < {quote(lead_id)}))"


def select(fields: Iterable[str], sobject: str, conditions: list[str], tail: str = "") -> str:
    soql = f"SELECT {', '.join(fields)} FROM {sobject}"
    if conditions:
        soql += " WHERE " + " AND ".join(conditions)
    return soql + (f" {tail}" if tail else "")
