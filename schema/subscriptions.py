"""The Subscription root: record changes pushed over graphql-transport-ws.

Each event is answered as a query for that record would be: loaded fresh through the same
loaders (with the subscriber's principal, so another brand's record is never sent), and run
through the schema's executor (``PolicyExecutionContext``: graphql-core runs every event on a
copy of the operation's executor), so a field the subscriber's role may not read answers
``null`` + ``FORBIDDEN`` at its path. Filters that need the record (status, customer) are
checked on the fresh record, after the change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Iterator
from typing import Any
from weakref import WeakKeyDictionary

import strawberry
from graphql import ExecutionResult as GraphQLResult
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.auth.persisted import PersistedQueryError
from app.connectors.errors import UpstreamError
from app.domain.ids import NodeId
from app.domain.models import Customer, Lead, LeadStatus, PlayerStats, Ticket, TicketStatus
from app.live.lapse import closed_if_lapsed
from app.live.subscriptions import Watch, backlog
from app.resilience import deadline
from schema.common import parse_id
from schema.context import Context, Info
from schema.customers import CustomerType
from schema.errors import UpstreamFieldError
from schema.execution import Forbidden
from schema.extensions import ErrorShaping
from schema.leads import LeadType
from schema.players import PlayerStatsType
from schema.tickets import TicketType

#: The query a subscription is the live twin of: a role that may not ask it may not watch.
TWIN = {"customer": "customer", "lead": "lead", "ticket": "ticket", "player": "playerStats"}


#: Refusals ``RequestPlan`` made of subscription operations, until their resolver raises them.
_refused: WeakKeyDictionary[Context, GraphQLError] = WeakKeyDictionary()


def _watch(info: Info, watch: Watch) -> AsyncIterator[Any]:
    context = info.context
    refusal = _refused.pop(context, None)
    if refusal is not None:
        raise refusal
    access = context.access
    if access is not None and not access.policy.may_read(
        context.principal.roles, "Query", TWIN[watch.entity]
    ):
        raise Forbidden(f"your role may not subscribe to {info.field_name}")
    return _events(context, watch)


async def _events(context: Context, watch: Watch) -> AsyncIterator[Any]:
    gateway = context.gateway
    settings = gateway.settings

    def fields(entity: str) -> Collection[str]:
        return {*context.fields_of(entity), *watch.needs(entity)}

    stream = backlog(gateway.bus, settings.live.dedupe_events)
    async with contextlib.aclosing(stream):
        async for batch in stream:
            wanted = [c for c in batch if watch.wants(c, context.principal)]
            if not wanted:
                continue
            # Each batch is a request of its own: its deadline and loaders, so the records of
            # a backlog are read together; each event its own reported errors.
            deadline.start(settings.server.request_deadline)
            loaders = context.loaders = gateway.loaders(fields, context.principal)
            context.reported = []
            loads = [watch.load(loaders, change) for change in wanted]
            for record in await asyncio.gather(*loads, return_exceptions=True):
                try:
                    if isinstance(record, BaseException):
                        raise record
                    if record is None or not await watch.matches(loaders, record):
                        continue
                except UpstreamError as exc:
                    # The change happened but its record cannot be read: say so at the field.
                    record = UpstreamFieldError(exc)
                if await _lapsed(context):
                    # The socket is closed; its handler cancels this operation. Ending the
                    # stream instead would make it send `complete` on a closed socket.
                    await asyncio.Event().wait()
                yield record


async def _lapsed(context: Context) -> bool:
    """Whether the subscriber's credentials lapsed since it connected (a websocket only)."""
    websocket = context.request
    if context.access is None or not isinstance(websocket, WebSocket):
        return False
    return await closed_if_lapsed(websocket, context.access.authenticator, context.principal)


def _statuses(values: list[Any] | None) -> frozenset[Any] | None:
    return None if values is None else frozenset(values)


def _customer(value: strawberry.ID | None) -> NodeId | None:
    return None if value is None else parse_id(value)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        graphql_type=CustomerType | None, description="A customer changed (or this one did)."
    )
    async def customer_changed(
        self, info: Info, id: strawberry.ID | None = None
    ) -> AsyncIterator[Customer | None]:
        wanted = None if id is None else str(parse_id(id))
        return _watch(info, Watch("customer", id=wanted))

    @strawberry.subscription(
        graphql_type=LeadType | None,
        description="A lead changed: of this customer (by email), with one of these statuses.",
    )
    async def lead_changed(
        self,
        info: Info,
        customer: strawberry.ID | None = None,
        status: list[LeadStatus] | None = None,
    ) -> AsyncIterator[Lead | None]:
        watch = Watch("lead", customer=_customer(customer), statuses=_statuses(status))
        return _watch(info, watch)

    @strawberry.subscription(
        graphql_type=TicketType | None,
        description="A ticket changed: requested by this customer, with one of these statuses.",
    )
    async def ticket_changed(
        self,
        info: Info,
        customer: strawberry.ID | None = None,
        status: list[TicketStatus] | None = None,
    ) -> AsyncIterator[Ticket | None]:
        watch = Watch("ticket", customer=_customer(customer), statuses=_statuses(status))
        return _watch(info, watch)

    @strawberry.subscription(
        graphql_type=PlayerStatsType | None, description="A player's stats changed."
    )
    async def player_stats_changed(
        self, info: Info, player_id: strawberry.ID | None = None
    ) -> AsyncIterator[PlayerStats | None]:
        return _watch(info, Watch("player", id=None if player_id is None else str(player_id)))


def operation_context(connection: Context) -> Context:
    """A context of its own for one operation of a websocket (its selection, denied fields,
    loaders), as each HTTP request has; the connection's principal carries over."""
    context = Context(connection.gateway, connection.principal, connection.access)
    context.request = connection.request
    context.connection_params = connection.connection_params
    return context


def _not_safelisted(context: Context, query: str | None) -> GraphQLError | None:
    access = context.access
    if access is None or access.persisted.mode != "safelist":
        return None
    if not isinstance(context.request, WebSocket):
        return None  # HTTP: the guard has resolved it already
    try:
        access.persisted.resolve({"query": query})
    except PersistedQueryError as exc:
        return GraphQLError(str(exc), extensions={"code": exc.code})
    return None


class StreamShaping(ErrorShaping):
    """:class:`ErrorShaping` for operations that answer more than once.

    Strawberry runs ``on_operation`` once around a whole subscription, so each event's
    result is shaped on its way out instead. And a refusal ``RequestPlan`` makes (limits,
    rate) is honoured by Strawberry for queries but not for subscriptions: it is handed to
    the subscription's resolver, which raises it before anything is watched. A websocket
    never passes the HTTP guard, so the safelist (``persisted_queries.mode: safelist``) is
    checked here for its operations.
    """

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.result is None and isinstance(ctx.context, Context):
            refusal = _not_safelisted(ctx.context, ctx.query)
            if refusal is not None:
                ctx.result = GraphQLResult(data=None, errors=[refusal])
        refused = ctx.result.errors if ctx.result is not None else None
        subscription = ctx.operation_type is OperationType.SUBSCRIPTION
        if subscription and refused and isinstance(ctx.context, Context):
            _refused[ctx.context] = refused[0]
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        if isinstance(result, ExecutionResult):
            context = self.execution_context.context
            errors: list[GraphQLError] = [self._shape(e) for e in result.errors or []]
            if isinstance(context, Context):
                errors += context.reported
                context.reported = []
            result.errors = errors or None
        yield
