"""``GET {entity set}``: the system query options, paging by ``odata.maxpagesize`` with a
paging-cookie ``$skiptoken``, and ``$count``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.simulators.dynamics.dialect import bad_request
from app.simulators.dynamics.odata import parse_filter, parse_orderby, parse_select, sort_rows
from app.simulators.dynamics.render import (
    MAX_PAGE_SIZE,
    Preferences,
    read_skiptoken,
    render,
    skiptoken,
)
from app.simulators.dynamics.schema import Column, Table
from app.simulators.dynamics.store import DynamicsStore

#: What the Web API reads on a collection; ``$expand``, ``$apply`` and friends are real but
#: not simulated, and ``$skip`` Dataverse itself refuses.
OPTIONS = frozenset({"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken"})
_UNSUPPORTED = frozenset({"$expand", "$apply", "$search", "$format", "$compute"})
_SAFE = "$,()'=:*/@"


@dataclass(frozen=True, slots=True)
class Page:
    body: dict[str, Any]
    applied: list[str]


def options(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The system query options, refused when repeated, unknown or not supported."""
    seen: dict[str, str] = {}
    for name, value in params:
        if not name.startswith("$"):
            continue  # custom query options are ignored
        if name in seen:
            raise bad_request(
                f"Query option '{name}' was specified more than once, but it must be specified "
                "at most once."
            )
        if name == "$skip":
            raise bad_request("The query parameter $skip is not supported")
        if name in _UNSUPPORTED:
            raise bad_request(f"The query parameter {name} is not supported by this simulator")
        if name not in OPTIONS:
            raise bad_request(
                f"The query parameter '{name}' is not supported. Query parameters starting "
                "with '$' are system query options."
            )
        seen[name] = value
    return seen


def select_of(opts: dict[str, str], table: Table) -> list[Column]:
    raw = opts.get("$select")
    return list(table.columns) if raw is None else parse_select(raw, table)


def context(base: str, table: Table, opts: dict[str, str], entity: bool = False) -> str:
    selected = opts.get("$select")
    names = f"({','.join(c.name for c in parse_select(selected, table))})" if selected else ""
    return f"{base}/$metadata#{table.entity_set}{names}" + ("/$entity" if entity else "")


def _top(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit():
        raise bad_request(
            f"Invalid value '{raw}' for $top query option found. The $top query option requires "
            "a non-negative integer value."
        )
    return int(raw)


def _count(raw: str | None) -> bool:
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise bad_request(f"'{raw}' is not a valid count option.")


def run(
    store: DynamicsStore,
    table: Table,
    params: Sequence[tuple[str, str]],
    prefs: Preferences,
    base: str,
) -> Page:
    """One page of the collection for these query options; ``base`` is the service root."""
    opts = options(params)
    columns = select_of(opts, table)
    rows = list(store.rows(table))
    if "$filter" in opts:
        keep = parse_filter(opts["$filter"], table)
        rows = [row for row in rows if keep(row)]
    sort_rows(rows, table, parse_orderby(opts["$orderby"], table) if "$orderby" in opts else [])
    top, counted = _top(opts.get("$top")), _count(opts.get("$count"))
    total = len(rows)
    applied: list[str] = []
    if prefs.annotations_raw is not None:
        applied.append(f"odata.include-annotations={prefs.annotations_raw}")
    size = min(prefs.max_page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    start, number = 0, 1
    if top is not None:
        rows, size = rows[: min(top, MAX_PAGE_SIZE)], MAX_PAGE_SIZE  # $top wins over paging
    else:
        if prefs.max_page_size is not None and prefs.max_page_size <= MAX_PAGE_SIZE:
            applied.append(f"odata.maxpagesize={size}")  # a larger ask is ignored, not applied
        if "$skiptoken" in opts:
            start, number = _resume(opts["$skiptoken"], table, rows, size)
    page = rows[start : start + size]
    body: dict[str, Any] = {"@odata.context": context(base, table, opts)}
    if counted:
        body["@odata.count"] = min(total, MAX_PAGE_SIZE)
    body["value"] = [render(store, table, row, columns, prefs) for row in page]
    if page and start + size < len(rows):
        token = skiptoken(table, number, page[0], page[-1])
        query = [f"{k}={quote(v, safe=_SAFE)}" for k, v in params if k != "$skiptoken"]
        query.append(f"$skiptoken={quote(token, safe='=/')}")
        body["@odata.nextLink"] = f"{base}/{table.entity_set}?{'&'.join(query)}"
    return Page(body, applied)


def _resume(token: str, table: Table, rows: list[dict[str, Any]], size: int) -> tuple[int, int]:
    """Where the page after the cookie's starts, and its number."""
    cookie = read_skiptoken(token, table)
    if cookie is None:
        raise bad_request(f"The $skiptoken value '{token}' is not a valid paging cookie.")
    number, last = cookie
    if last is not None:
        for index, row in enumerate(rows):
            if row[table.key] == last:
                return index + 1, number
    return max(number - 1, 0) * size, number
