"""GraphQL over HTTP (the GraphQL-over-HTTP draft, as graphql-http's server audits check it).

- A POST body is ``application/json`` (any parameters, any case) or it is refused with 415:
  no other media type reaches GraphQL (uploads are off).
- An answer is ``application/graphql-response+json`` when the Accept header prefers it, else
  ``application/json`` (so for ``*/*`` and when there is no Accept header).
- A request that never started executing (a syntax, validation or variable error, or a
  refused limit) is 400 without ``data`` under ``application/graphql-response+json``, and 200
  with ``data: null`` under ``application/json``, as the spec asks of each.
- Every refusal is a GraphQL error body with ``extensions.code``, never plain text.

A query the response cache (:mod:`app.cache.responses`) holds for this caller's scope is
answered by :class:`CachedAnswers`, an ASGI step right after the guard, before routing and
Strawberry: its kept ``data`` with ``extensions.cached.age``, charged to the caller's rate
budget and logged and counted as the operation would be. A query it may keep is executed as
usual and its answer kept (by the router) when it has no errors and no extensions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from app import json_input
from app.auth.principal import Principal
from app.auth.ratelimit import RateLimiter, RateLimiterUnavailable
from app.cache.responses import CACHEABLE_ROOTS, Answer, ResponseCache
from app.loaders import Loaders
from app.observability import metrics, tracing
from app.observability.logging import bind, get_logger, unbind

operations = get_logger("crmgraph.graphql")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"

#: ``request.state`` key: this request's operation did not start executing.
_NOT_EXECUTED = "graphql_not_executed"
#: ``request.state`` key: the operation's execution result (for the response cache).
_RESULT = "graphql_result"
#: ``request.state`` key: the response cache's lookup of this request (CachedAnswers).
_LOOKUP = "response_cache_lookup"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def media_type(content_type: str | None) -> str:
    """``application/json`` of ``Application/JSON; charset=utf-8``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    return media_type(content_type) == JSON


def answer_type(accept: str | None) -> str:
    """The media type to answer with: the Accept header's preferred of the two (its q-value,
    then its order), ``application/json`` for ``*/*``, ``application/*`` or no preference."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept or "").split(",")):
        name, *parameters = part.split(";")
        given = media_type(name)
        if given in ("*/*", "application/*"):
            given = JSON
        if given not in (JSON, GRAPHQL_RESPONSE):
            continue
        quality = _quality(parameters)
        if quality > 0 and (best is None or (quality, -position) > best[:2]):
            best = (quality, -position, given)
    return JSON if best is None else best[2]


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def not_executed_status(answer: str) -> int:
    """The status of a request refused before execution (the spec's rule per media type)."""
    return 400 if answer == GRAPHQL_RESPONSE else 200


def error_body(status: int, message: str, code: str, **extra: Any) -> bytes:
    """A GraphQL error body; ``data: null`` only on a 200 (a 4xx had no execution to show)."""
    error = {"message": message, "extensions": {"code": code, **extra}}
    body: dict[str, Any] = {"errors": [error]}
    if status == 200:
        body = {"data": None, **body}
    return json.dumps(body).encode()


def refusal(status: int, message: str, code: str, accept: str | None) -> Response:
    answer = answer_type(accept)
    if status == 200:
        status = not_executed_status(answer)
    return Response(error_body(status, message, code), status_code=status, media_type=answer)


def _not_executed(result: ExecutionResult) -> bool:
    """No field ran: the errors are the document's, its variables' or a refused limit's."""
    errors: list[GraphQLError] = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


class GraphQLOverHTTPRouter(GraphQLRouter[Any, None]):
    """Strawberry's FastAPI router answering as the GraphQL-over-HTTP spec asks."""

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if self.is_websocket_request(request):
            return await super().run(request, context, root_value)
        accept = request.headers.get("accept")
        lookup: _Lookup | None = getattr(request.state, _LOOKUP, None)
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as exc:
            # Strawberry's own refusals (an unknown operationName, a mutation over GET…)
            return refusal(exc.status_code, exc.reason, "BAD_USER_INPUT", accept)
        if isinstance(response, Response) and response.media_type == JSON:
            answer = answer_type(accept)
            response.headers["content-type"] = answer
            if getattr(request.state, _NOT_EXECUTED, False):
                response.status_code = not_executed_status(answer)
            elif lookup is not None and response.status_code == 200:
                self._keep(lookup, context, getattr(request.state, _RESULT, None))
        if isinstance(response, Response) and not isinstance(response, StreamingResponse):
            tasks = getattr(context, "background_tasks", None)
            if isinstance(tasks, BackgroundTasks):
                tasks.add_task(self._release_after, request, context)  # once it is sent
            else:
                self._release(request, context)
        return response

    @classmethod
    async def _release_after(cls, request: Request, context: Any) -> None:
        """``_release`` as the request's background task, on the event loop: Starlette runs a
        plain function given as one in its thread pool, ~150 µs of CPU and a thread's wake-up
        per query for nothing (``tests/integration/gateway/test_request_memory.py``)."""
        cls._release(request, context)

    @staticmethod
    def _release(request: Request, context: Any) -> None:
        """Once the answer is made (not streamed): drop the records the request's loaders
        hold and the executed result. The request's objects refer to each other (its state,
        its loaders, the execution), so otherwise a dashboard's ~4,000 records and answer
        objects would wait for the cyclic garbage collector, each young collection walking
        them all. Done as the request's background task, after its answer is sent: freeing
        them is ~2 % of a dashboard's CPU, which its caller need not wait for."""
        request.state._state.pop(_RESULT, None)
        loaders = getattr(context, "loaders", None)
        if isinstance(loaders, Loaders):
            loaders.release()

    def _keep(self, lookup: _Lookup, context: Any, result: ExecutionResult | None) -> None:
        """Keep a query's answer: only data, no errors or extensions (stale answers, explain),
        only of records read through the field cache, and no longer than they are fresh."""
        if result is None or result.errors or result.data is None or result.extensions:
            return
        served = context.loaders.served
        roots = context.selection.by_type.get("Query", set())
        if served.stale or not served.tags or not math.isfinite(served.expires):
            return
        if not roots or not roots <= CACHEABLE_ROOTS:
            return
        data = self.encode_json(result.data)
        answer = Answer(
            data=data if isinstance(data, bytes) else data.encode(),
            stored_at=lookup.cache.clock(),
            expires_at=served.expires,
            tags=frozenset(served.tags),
            cost=context.cost or 1,
        )
        lookup.cache.put(lookup.key, answer, lookup.since)

    def decode_json(self, data: str | bytes) -> object:
        # Request bodies and websocket messages, with a bound on nesting: past ~1,000 levels
        # json.loads raises a RecursionError nothing catches (app.json_input).
        return json_input.loads(data)

    def encode_json(self, data: object) -> bytes:
        # A dashboard's answer is thousands of fields: orjson encodes it ~10x faster.
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        processed = process_result(result)
        setattr(request.state, _RESULT, result)
        if _not_executed(result):
            setattr(request.state, _NOT_EXECUTED, True)
            if answer_type(request.headers.get("accept")) == GRAPHQL_RESPONSE:
                processed.pop("data", None)
        return processed


class CachedAnswers:
    """The response cache's hits, answered right after the guard (which has authenticated the
    caller and resolved persisted queries), before routing and Strawberry. Anything else goes
    on, with the lookup in ``scope["state"]`` for the router to keep the answer under."""

    def __init__(
        self,
        app: ASGIApp,
        gateway: Callable[[], Any],
        rate: RateLimiter | None,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.gateway = gateway
        self.rate = rate
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        principal = state.get("principal")
        cache = getattr(self.gateway(), "responses", None)
        if (
            scope["type"] != "http"
            or scope["path"].rstrip("/") != self.path
            or not isinstance(principal, Principal)
            or not isinstance(cache, ResponseCache)
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        params: dict[str, Any] | None = None
        if scope["method"] == "POST":
            body = await _read(receive)
            receive = _replay(body)
            params = _json_object(body)
        elif scope["method"] == "GET":
            params = _query_parameters(scope.get("query_string", b""))
        lookup = _lookup(cache, principal, params, started) if params is not None else None
        if lookup is not None:
            answer = await self._answer(lookup, principal)
            if answer is not None:
                accept = _header(scope, b"accept")
                await _send(send, answer, answer_type(accept))
                return
            cache.misses += 1
            scope.setdefault("state", {})[_LOOKUP] = lookup
        await self.app(scope, receive, send)

    async def _answer(self, lookup: _Lookup, principal: Principal) -> bytes | None:
        """The kept answer, charged to the caller's rate budget as its operation is; None when
        there is none, or the budget refuses it (then executed, and RequestPlan refuses it the
        same way: a refused charge spends nothing)."""
        answer = lookup.cache.get(lookup.key)
        if answer is None:
            return None
        if self.rate is not None:
            try:
                decision = await self.rate.acquire(principal.subject, max(answer.cost, 1))
            except RateLimiterUnavailable:
                pass  # served unchecked, as RequestPlan serves it (the limiter tells the log)
            else:
                if not decision.allowed:
                    return None
        lookup.cache.hits += 1
        age = round(max(lookup.cache.clock() - answer.stored_at, 0.0), 3)
        _observe(lookup, principal, age)
        return b"".join(
            (
                b'{"data":',
                answer.data,
                b',"extensions":{"cached":{"age":',
                orjson.dumps(age),
                b"}}}",
            )
        )


@dataclass(slots=True)
class _Lookup:
    """A query the response cache may answer or keep: its key for this caller, its
    operation's name, and the mark a kept answer is checked against (``ResponseCache.put``)."""

    cache: ResponseCache
    key: str
    name: str | None
    since: int
    started: float


def _lookup(
    cache: ResponseCache, principal: Principal, params: dict[str, Any], started: float
) -> _Lookup | None:
    """None when the response cache does not apply: not a query, explain asked for, or
    parameters Strawberry will refuse anyway."""
    query, name = params.get("query"), params.get("operationName")
    variables, extensions = params.get("variables"), params.get("extensions")
    if not isinstance(query, str) or not isinstance(name, str | None):
        return None
    if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
        return None
    if extensions and extensions.get("explain"):
        return None  # the figures are this request's own
    operation = cache.operation(query, name)
    if operation is None:
        return None
    key = cache.key(operation, variables, principal.roles, principal.brands)
    return _Lookup(cache, key, operation.name, cache.begin(), started)


def _observe(lookup: _Lookup, principal: Principal, age: float) -> None:
    """A hit is logged, counted and traced as its operation is (``schema.extensions.Observe``)."""
    tokens = bind(caller=principal.subject, operation=lookup.name)
    try:
        with tracing.span(f"graphql {lookup.name or 'anonymous'}") as span:
            span.set_attribute("graphql.operation.name", lookup.name or "")
            span.set_attribute("graphql.cached", True)
        seconds = time.perf_counter() - lookup.started
        metrics.graphql_request(lookup.name, "ok", seconds)
        operations.info(
            "graphql.operation",
            operation=lookup.name,
            outcome="ok",
            latency_ms=round(seconds * 1000, 1),
            upstream_calls=0,
            cached=True,
            age=age,
        )
    finally:
        unbind(tokens)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def _query_parameters(query_string: bytes) -> dict[str, Any] | None:
    given = dict(parse_qsl(query_string.decode("latin-1")))
    found: dict[str, Any] = {
        "query": given.get("query"),
        "operationName": given.get("operationName"),
    }
    for name in ("variables", "extensions"):
        raw = given.get(name)
        try:
            found[name] = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return None
    return found


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _send(send: Send, body: bytes, media: str) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
