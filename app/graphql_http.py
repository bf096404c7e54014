"""GraphQL over HTTP (the GraphQL-over-HTTP draft, as graphql-http's server audits check it).

- A POST body is ``application/json`` (any parameters, any case) or it is refused with 415:
  no other media type reaches GraphQL (uploads are off).
- An answer is ``application/graphql-response+json`` when the Accept header prefers it, else
  ``application/json`` (so for ``*/*`` and when there is no Accept header).
- A request that never started executing (a syntax, validation or variable error, or a
  refused limit) is 400 without ``data`` under ``application/graphql-response+json``, and 200
  with ``data: null`` under ``application/json``, as the spec asks of each.
- Every refusal is a GraphQL error body with ``extensions.code``, never plain text.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"

#: ``request.state`` key: this request's operation did not start executing.
_NOT_EXECUTED = "graphql_not_executed"


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
        return response

    def encode_json(self, data: object) -> bytes:
        # A dashboard's answer is thousands of fields: orjson encodes it ~10x faster.
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        processed = process_result(result)
        if _not_executed(result):
            setattr(request.state, _NOT_EXECUTED, True)
            if answer_type(request.headers.get("accept")) == GRAPHQL_RESPONSE:
                processed.pop("data", None)
        return processed
