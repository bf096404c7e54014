"""Zendesk search queries and paging parameters."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from app.connectors.base import TicketQuery, TimeRange
from app.connectors.errors import UnsupportedQuery
from app.domain.models import TicketStatus

SHOW_MANY_LIMIT = 100
LIST_PAGE_LIMIT = 100
EXPORT_PAGE_LIMIT = 1000
#: The export page Zendesk recommends, and asked once a page of more timed out.
SAFE_EXPORT_PAGE = 100
#: The search export, which Zendesk limits apart from the account (its own pace:
#: ``ZendeskSource.export_limit``).
EXPORT = "/api/v2/search/export"

STATUS_WORDS: dict[TicketStatus, str] = {
    TicketStatus.NEW: "new",
    TicketStatus.OPEN: "open",
    TicketStatus.PENDING: "pending",
    TicketStatus.ON_HOLD: "hold",
    TicketStatus.SOLVED: "solved",
    TicketStatus.CLOSED: "closed",
}


#: What makes a value a phrase: whitespace (``\s`` matches exactly what ``str.isspace``
#: calls whitespace) or a double quote.
_PHRASE = re.compile(r'[\s"]')


def term(keyword: str, value: str) -> str:
    if _PHRASE.search(value):
        value = '"' + value.replace('"', "") + '"'
    return f"{keyword}:{value}"


#: What Zendesk's search syntax gives a meaning inside a value, with no way to escape it: a
#: double quote ends a phrase, ``*`` is a wildcard (quoted or not).
UNSEARCHABLE = ('"', "*")


def exact_term(keyword: str, value: str, field: str) -> str:
    """``keyword:value`` matching ``value`` exactly, or :class:`UnsupportedQuery` when the
    search syntax cannot carry it (a caller's ``*`` would match every ticket)."""
    found = [ch for ch in UNSEARCHABLE if ch in value]
    if found:
        refused = " or ".join(found)
        raise UnsupportedQuery(
            field, f"cannot contain {refused}: Zendesk search reads it as syntax"
        )
    return term(keyword, value)


def status_terms(statuses: Iterable[TicketStatus]) -> list[str]:
    # Repeating a keyword ORs its values in Zendesk's search syntax.
    return [term("status", STATUS_WORDS[s]) for s in statuses]


def _date(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _range(keyword: str, span: TimeRange) -> list[str]:
    found = []
    if span.after is not None:
        found.append(f"{keyword}>={_date(span.after)}")
    if span.before is not None:
        found.append(f"{keyword}<={_date(span.before)}")
    return found


def ticket_search(query: TicketQuery, brand_ids: Mapping[str, list[int]]) -> str | None:
    """The search terms for ``query``, or None when it cannot match anything."""
    terms: list[str] = []
    if query.statuses is not None:
        if not query.statuses:
            return None
        terms += status_terms(query.statuses)
    if query.brands is not None:
        ids = [i for b in query.brands for i in brand_ids.get(b, [])]
        if not ids:
            return None
        terms += [term("brand_id", str(i)) for i in ids]
    if query.requester_email:
        terms.append(exact_term("requester", query.requester_email, "requester_email"))
    terms += _range("created", query.created)
    terms += _range("updated", query.updated)
    for path, value in query.custom:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        field = path.removeprefix("custom_fields.")
        keyword = f"custom_field_{field}" if field != path else path
        terms.append(exact_term(keyword, text, path))
    return " ".join(terms)


def custom_fields(custom: Mapping[str, Any] | None) -> dict[str, Any]:
    """A write's custom fields (path → value) as a ticket takes them: a ticket field by id
    (``custom_fields.<id>``) in ``custom_fields``, any other path as a ticket attribute."""
    found: dict[str, Any] = {}
    entries = []
    for path, value in (custom or {}).items():
        field = path.removeprefix("custom_fields.")
        if field != path and field.isdigit():
            entries.append({"id": int(field), "value": value})
        else:
            found[path] = value
    if entries:
        found["custom_fields"] = entries
    return found
