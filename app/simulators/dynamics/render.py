"""Rows as the Web API writes them: ``@odata.etag``, instance annotations, ``Prefer``
preferences, and the paging cookie behind ``$skiptoken``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from app.simulators.dynamics.odata import format_instant
from app.simulators.dynamics.schema import Column, Kind, Table
from app.simulators.dynamics.store import DynamicsStore, Record, parse_guid

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
LOOKUP_NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
MAX_PAGE_SIZE = 5000
_PREFERENCE = re.compile(r'\s*([\w.-]+)\s*(?:=\s*("[^"]*"|[^,;]*))?\s*(?:;[^,]*)?(?:,|$)')


@dataclass(slots=True)
class Preferences:
    """What a request's ``Prefer`` headers ask for."""

    annotations: list[str] = field(default_factory=list)
    annotations_raw: str | None = None
    max_page_size: int | None = None
    representation: bool = False
    continue_on_error: bool = False

    def wants(self, term: str) -> bool:
        wanted = False
        for pattern in self.annotations:
            negate = pattern.startswith("-")
            body = pattern.removeprefix("-")
            hit = (
                body == "*" or body == term or (body.endswith(".*") and term.startswith(body[:-1]))
            )
            if hit:
                wanted = not negate
        return wanted


def preferences(headers: list[str]) -> Preferences:
    prefs = Preferences()
    for header in headers:
        for match in _PREFERENCE.finditer(header):
            name, value = match.group(1).lower(), (match.group(2) or "").strip()
            if not name:
                continue
            if name == "odata.include-annotations":
                prefs.annotations_raw = value
                inner = value.strip('"')
                prefs.annotations = [p.strip() for p in inner.split(",") if p.strip()]
            elif name == "odata.maxpagesize" and value.isdigit() and int(value) > 0:
                prefs.max_page_size = int(value)
            elif name == "return" and value == "representation":
                prefs.representation = True
            elif name == "odata.continue-on-error":
                prefs.continue_on_error = True
    return prefs


def etag(row: Record) -> str:
    return f'W/"{row["versionnumber"]}"'


def formatted_datetime(value: datetime) -> str:
    """``5/10/2024 2:05 PM``: a date-time in the user's (en-US, UTC) format."""
    utc = value.astimezone(UTC)
    hour = utc.hour % 12 or 12
    half = "AM" if utc.hour < 12 else "PM"
    return f"{utc.month}/{utc.day}/{utc.year} {hour}:{utc.minute:02d} {half}"


def wire(value: Any) -> Any:
    return format_instant(value) if isinstance(value, datetime) else value


def render(
    store: DynamicsStore, table: Table, row: Record, columns: list[Column], prefs: Preferences
) -> dict[str, Any]:
    """One row: its etag, then each column asked for (the key always), with annotations."""
    out: dict[str, Any] = {"@odata.etag": etag(row)}
    shown = list(columns)
    key = table.column(table.key)
    if key is not None and key not in shown:
        shown.append(key)
    for column in shown:
        value = row.get(column.name)
        if value is not None:
            _annotate(out, store, column, value, prefs)
        out[column.name] = wire(value)
    return out


def _annotate(
    out: dict[str, Any], store: DynamicsStore, column: Column, value: Any, prefs: Preferences
) -> None:
    name = column.name
    if column.kind is Kind.LOOKUP and column.target:
        if prefs.wants(FORMATTED):
            label = store.name_of(column.target, value)
            if label is not None:
                out[f"{name}@{FORMATTED}"] = label
        if prefs.wants(LOOKUP_NAVIGATION):
            navigation = column.bind or name.removeprefix("_").removesuffix("_value")
            out[f"{name}@{LOOKUP_NAVIGATION}"] = navigation
        if prefs.wants(LOOKUP_TABLE):
            out[f"{name}@{LOOKUP_TABLE}"] = column.target
    elif not prefs.wants(FORMATTED):
        return
    elif column.kind is Kind.CHOICE:
        out[f"{name}@{FORMATTED}"] = column.options.get(value, str(value))
    elif column.kind is Kind.DATETIME:
        out[f"{name}@{FORMATTED}"] = formatted_datetime(value)
    elif column.kind is Kind.BIGINT:
        out[f"{name}@{FORMATTED}"] = f"{value:,}"


# -- paging cookie --------------------------------------------------------------------------------


def _quote_lower(text: str) -> str:
    # The inner cookie is escaped with lower-case hex (``%3ccookie%20page%3d…``).
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(text, safe=""))


def skiptoken(table: Table, page: int, first: Record, last: Record) -> str:
    """The ``$skiptoken`` value (before URL encoding) that leads to page ``page + 1``."""
    inner = (
        f'<cookie page="{page}"><{table.key} last="{{{last[table.key].upper()}}}" '
        f'first="{{{first[table.key].upper()}}}" /></cookie>'
    )
    return (
        f'<cookie pagenumber="{page + 1}" pagingcookie="{_quote_lower(inner)}" '
        'istracking="False" />'
    )


def read_skiptoken(token: str, table: Table) -> tuple[int, str | None] | None:
    """``(page number, last key of the page before)`` from a ``$skiptoken``, or ``None``."""
    number = re.search(r'pagenumber="(\d+)"', token)
    cookie = re.search(r'pagingcookie="([^"]*)"', token)
    if number is None or cookie is None:
        return None
    inner = unquote(cookie.group(1))
    last = re.search(rf'<{table.key} last="\{{([^}}]*)\}}"', inner)
    return int(number.group(1)), parse_guid(last.group(1)) if last else None
