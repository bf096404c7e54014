"""Types shared by every domain: Node, ExternalRef, Money, DateTime ranges, page info."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry

from app.connectors.errors import UpstreamError
from app.domain.ids import ExternalRef, InvalidId, NodeId
from app.domain.models import NON_NULL, LeadStatus, TicketPriority, TicketStatus, showable
from app.domain.money import Money
from app.services import pagination
from schema.errors import BadUserInput, UnreadableField, UpstreamFieldError

if TYPE_CHECKING:
    from schema.context import Info

T = TypeVar("T")
R = TypeVar("R")

# The domain's enums are the schema's: registering them here keeps one vocabulary.
strawberry.enum(LeadStatus, name="LeadStatus")
strawberry.enum(TicketStatus, name="TicketStatus")
strawberry.enum(TicketPriority, name="TicketPriority")


@strawberry.interface(name="Node", description="An object with a global id: '<source>:<id>'.")
class Node:
    id: strawberry.ID


@strawberry.type(name="ExternalRef", description="Where a record lives: source and native id.")
class ExternalRefType:
    source: str
    id: str

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, ExternalRef)


@strawberry.type(name="Money", description="An exact decimal amount and its ISO 4217 currency.")
class MoneyType:
    text: str = strawberry.field(
        name="amount", description="A decimal string, never a float: '1234.50'."
    )
    currency: str

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, Money)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A Relay connection over the CRM's own paging.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[int | None] = None
    count_error: strawberry.Private[UpstreamError | None] = None

    @strawberry.field(description="All matching records, where the CRM can count them.")
    def total_count(self) -> int | None:
        # A count is its own call on some CRMs: its failure costs this field, not the page.
        if self.count_error is not None:
            raise UpstreamFieldError(self.count_error)
        return self.count


def connection(page: pagination.Connection[Any], info: Info) -> Connection[Any]:
    nodes = {id(n) for n in usable([e.node for e in page.edges], info)}
    return Connection(
        edges=[Edge(cursor=e.cursor, node=e.node) for e in page.edges if id(e.node) in nodes],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        count=page.total_count,
        count_error=page.total_error,
    )


def empty_connection() -> Connection[Any]:
    """What a list answers when it cannot be read (its source failed, its arguments were
    refused): no edges, no next page, no count; the error is at the list's path."""
    return Connection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None))


@strawberry.input(description="An inclusive time range; either end may be left open.")
class DateTimeRange:
    after: datetime | None = None
    before: datetime | None = None


def read_attribute(root: Any, name: str) -> object:
    """How every plain field is read, for the whole schema (Strawberry's default resolver).

    A value the CRM sent but that could not be read answers an ``UPSTREAM_INVALID_DATA``
    error naming the source and record, instead of a guess; ids are written out as
    ``"<source>:<id>"``.
    """
    problems = getattr(root, "problems", None)
    if problems and name in problems:
        record_id = getattr(root, "id", None) or getattr(root, "player_id", "")
        source = record_id.source if isinstance(record_id, NodeId) else None
        raise UnreadableField(
            f"{name} of {record_id} could not be read: {problems[name]}", source=source
        )
    try:
        value = getattr(root, name)
    except AttributeError:
        custom = getattr(root, "custom", None)
        if not isinstance(custom, dict):
            raise
        value = custom.get(name)  # a custom field of the config's
    return str(value) if isinstance(value, NodeId) else value


def attributes(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...] | None]:
    """A reader of the attributes ``names`` of a record at once (one C-level ``attrgetter``
    call), for the plain fields of a selection: their values as ``read_attribute`` reads them,
    or None when any of them needs its care (a record with problems, an attribute it lacks:
    a custom field, a property that raised). A ``NodeId`` is left as it is (the executor
    writes it out as its ``str``, as ``read_attribute`` reads it)."""
    get = attrgetter(*names)
    single = len(names) == 1

    def read(root: Any) -> tuple[Any, ...] | None:
        if getattr(root, "problems", None):
            return None
        try:
            values = get(root)
        except Exception:
            return None
        return (values,) if single else values

    return read


def usable(records: list[R], info: Info, limit: int | None = None) -> list[R]:
    """The records of a list that can be shown (the first ``limit`` of them); each one left
    out before those is reported. (A relation whose source failed answers ``[]`` with the
    error at its path: the executor does that for every list.)"""
    kept: list[R] = []
    for record in records:
        if limit is not None and len(kept) >= limit:
            break
        if showable(record):
            kept.append(record)
            continue
        problems = record.problems  # type: ignore[attr-defined]
        broken = next(f for f in NON_NULL if f in problems)
        record_id = getattr(record, "id", None)
        source = record_id.source if isinstance(record_id, NodeId) else None
        info.context.report(
            f"{record_id} left out: {broken} could not be read: {problems[broken]}",
            {"code": UnreadableField.code, "source": source},
            info,
        )
    return kept


def parse_id(value: str) -> NodeId:
    try:
        return NodeId.parse(value)
    except InvalidId as exc:
        raise BadUserInput(str(exc), argument="id") from None


def page_size(first: int, limit: int) -> int:
    if first < 0 or first > limit:
        raise BadUserInput(f"first must be between 0 and {limit}, got {first}", argument="first")
    return first


async def lookup(info: Info, entity: str, id: str) -> Any:
    """A customer, lead or ticket by global id, as the caller may see it (None: missing,
    another source's id, or another brand's record)."""
    node = parse_id(id)
    loaders = info.context.loaders
    by_entity: dict[str, tuple[str, Any]] = {
        "customer": (loaders.sources.customers.name, loaders.customer),
        "lead": (loaders.sources.leads.name, loaders.lead),
        "ticket": (loaders.sources.tickets.name, loaders.ticket),
    }
    source, loader = by_entity[entity]
    return await loader.load(node.native) if node.source == source else None
