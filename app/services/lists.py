"""Lists of customers, leads and tickets as Relay connections, priming the loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from app.connectors.base import Page
from app.services.pagination import Connection, paginate, scope_of

T = TypeVar("T")


async def listing(
    kind: str,
    query: object,
    first: int,
    after: str | None,
    fetch: Callable[[int, str | None], Awaitable[Page[T]]],
    prime: Callable[[Sequence[T]], None],
) -> Connection[T]:
    """One page of the ``kind`` list matching ``query``; every record read is primed into
    the request's loaders, so relations to it cost nothing more."""

    async def fetch_and_prime(count: int, cursor: str | None) -> Page[T]:
        page = await fetch(count, cursor)
        prime(page.items)
        return page

    return await paginate(scope_of(kind, query), first, after, fetch_and_prime)
