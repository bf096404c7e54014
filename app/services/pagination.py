"""Relay connections over the CRMs' own paging, with opaque cursors.

A cursor names the CRM's own cursor of a page and how many items of that page to skip, so
every edge has a cursor that resumes right after it whatever paging the CRM uses (offsets,
keysets, opaque tokens). It also carries a hash of the list and filter it belongs to, so a
cursor is never silently applied to another list.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from app.connectors.base import Page
from app.connectors.errors import UpstreamError
from app.services.inputs import text_problem

T = TypeVar("T")


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Position:
    upstream: str | None
    skip: int


@dataclass(frozen=True, slots=True)
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass(frozen=True, slots=True)
class Connection(Generic[T]):
    edges: list[Edge[T]]
    has_next_page: bool
    end_cursor: str | None
    total_count: int | None
    #: Why ``total_count`` is missing when it was asked for: the count failed, the page did not.
    total_error: UpstreamError | None = None


def scope_of(kind: str, filters: object) -> str:
    digest = hashlib.sha256(f"{kind}|{filters!r}".encode()).hexdigest()
    return digest[:12]


def encode(scope: str, position: Position) -> str:
    raw = orjson.dumps({"v": 1, "q": scope, "c": position.upstream, "s": position.skip})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(scope: str, cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        upstream, skip, version, owner = data["c"], data["s"], data["v"], data["q"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("after is not a cursor this server issued") from exc
    if version != 1 or not isinstance(skip, int) or skip < 0:
        raise InvalidCursor("after is not a cursor this server issued")
    if upstream is not None and (not isinstance(upstream, str) or text_problem(upstream)):
        # The CRM's part is sent on as it is: it passes the check every query value passes.
        raise InvalidCursor("after is not a cursor this server issued")
    if owner != scope:
        raise InvalidCursor("after belongs to another list or filter; start again without it")
    return Position(upstream, skip)


Fetch = Callable[[int, str | None], Awaitable[Page[T]]]


async def paginate(scope: str, first: int, after: str | None, fetch: Fetch[T]) -> Connection[T]:
    """One page of ``first`` items after the ``after`` cursor."""
    start = decode(scope, after) if after else Position(None, 0)
    # first=0 still asks for one item, to answer hasNextPage and totalCount truthfully.
    page = await fetch(max(first, 1) + start.skip, start.upstream)
    items = page.items[start.skip : start.skip + first]
    edges = [
        Edge(encode(scope, Position(start.upstream, start.skip + n + 1)), item)
        for n, item in enumerate(items)
    ]
    more_here = len(page.items) > start.skip + first
    has_next = more_here or page.next_cursor is not None
    end_cursor = edges[-1].cursor if edges else after
    if has_next and not more_here and page.next_cursor is not None:
        end_cursor = encode(scope, Position(page.next_cursor, 0))
    return Connection(
        edges=edges,
        has_next_page=has_next,
        end_cursor=end_cursor,
        total_count=page.total,
        total_error=page.total_error,
    )
