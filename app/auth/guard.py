"""The door of /graphql: body size, credentials, persisted queries and a token budget,
all checked before the body reaches GraphQL (so nothing refused here costs an upstream call).

A pure ASGI middleware. It puts the caller's Principal in ``scope["state"]["principal"]``.
Refusals are JSON in GraphQL's error shape, with an HTTP status where one fits (401, 413, 415,
400) and an audit event naming the caller where one is known. A POST body is JSON or is refused
(415), whatever Strawberry would make of it: a safelist is only as good as the one door it
guards. The answer's media type and the status of a refusal that is not an HTTP error follow
``app.graphql_http``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from graphql import GraphQLSyntaxError

from app import json_input
from app.auth.authenticate import Authenticator, Unauthenticated
from app.auth.limits import count_tokens
from app.auth.persisted import PersistedQueryError, PersistedQueryStore
from app.graphql_http import answer_type, error_body, is_json, not_executed_status

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

audit = logging.getLogger("crmgraph.audit")

#: The request parameters GraphQL reads, and the JSON type each must have when not null.
PARAMETERS: dict[str, type] = {
    "query": str,
    "operationName": str,
    "variables": dict,
    "extensions": dict,
}
_KINDS: dict[type, str] = {str: "a string", dict: "an object"}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


class GraphQLGuard:
    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        persisted: PersistedQueryStore,
        *,
        max_body_bytes: int,
        max_tokens: int,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.persisted = persisted
        self.max_body_bytes = max_body_bytes
        self.max_tokens = max_tokens
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        if method == "GET" and not scope.get("query_string"):
            await self.app(scope, receive, send)  # the GraphiQL page: queries it sends are checked
            return
        client = (scope.get("client") or (None,))[0]
        subject = None
        try:
            principal = await self._authenticate(headers, client)
            subject = principal.subject
            if method == "POST":
                body = await self._body(headers, receive)
                body = self._checked_body(body, headers)
                receive = _replay(body)
                # Whatever its parameters or case, it is JSON now: say so as Strawberry reads it.
                scope = {**scope, "headers": _as_json(scope["headers"])}
            elif method == "GET":
                scope = {**scope, "query_string": self._checked_query(scope["query_string"])}
        except Refused as refused:
            audit.warning(
                "request refused",
                extra={
                    "event": "request.refused",
                    "code": refused.code,
                    "reason": refused.message,
                    "subject": subject,
                    "client": client,
                },
            )
            await _refuse(send, refused, answer_type(headers.get("accept")))
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _authenticate(self, headers: dict[str, str], client: str | None) -> Any:
        try:
            return await self.authenticator.authenticate(headers, client)
        except Unauthenticated as exc:
            raise Refused(401, "UNAUTHENTICATED", str(exc)) from None

    async def _body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise Refused(413, "BAD_USER_INPUT", f"the body is over {self.max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise Refused(
                    413, "BAD_USER_INPUT", f"the body is over {self.max_body_bytes} bytes"
                )
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _checked_body(self, body: bytes, headers: dict[str, str]) -> bytes:
        if not is_json(headers.get("content-type")):
            raise Refused(415, "BAD_USER_INPUT", "the body must be application/json")
        coding = headers.get("content-encoding", "").strip().lower()
        if coding not in ("", "identity"):
            # Not decoded here (a compressed body would be read as broken JSON, or unzip past
            # the size limit): said as what it is.
            raise Refused(
                415,
                "BAD_USER_INPUT",
                f"the body must not be encoded (Content-Encoding: {coding[:40]}); send it as it is",
            )
        try:
            payload = json_input.loads(body)
        except ValueError as exc:
            why = f"the body is not valid JSON ({_why(exc)})"
            raise Refused(400, "BAD_USER_INPUT", why) from None
        if isinstance(payload, list):
            raise Refused(400, "BAD_USER_INPUT", "batched requests are not accepted; send one")
        if not isinstance(payload, dict):
            raise Refused(400, "BAD_USER_INPUT", "the body must be a JSON object")
        resolved = self._resolved(payload)
        return body if resolved is payload else json.dumps(resolved).encode()

    def _checked_query(self, query_string: bytes) -> bytes:
        params = dict(parse_qsl(query_string.decode("latin-1")))
        payload: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            if params.get(name):  # an empty one is no value, to Strawberry too
                try:
                    payload[name] = json_input.loads(params[name])
                except ValueError as exc:
                    raise Refused(
                        400, "BAD_USER_INPUT", f"{name} is not valid JSON ({_why(exc)})"
                    ) from None
            else:
                payload[name] = None
        resolved = self._resolved(payload)
        if resolved is payload:
            return query_string
        return urlencode({**params, "query": resolved["query"]}).encode()

    def _resolved(self, payload: dict[str, Any]) -> dict[str, Any]:
        for name, kind in PARAMETERS.items():
            if payload.get(name) is not None and not isinstance(payload[name], kind):
                raise Refused(400, "BAD_USER_INPUT", f"{name} must be {_KINDS[kind]} or null")
        try:
            resolved = self.persisted.resolve(payload)
        except PersistedQueryError as exc:
            raise Refused(200, exc.code, str(exc)) from None
        query = resolved.get("query")
        if isinstance(query, str):
            found = self._tokens(query)
            if found > self.max_tokens:
                raise Refused(
                    200,
                    "QUERY_TOO_COMPLEX",
                    f"the query has more than {self.max_tokens} tokens",
                    limit="tokens",
                    max=self.max_tokens,
                )
        return resolved

    def _tokens(self, query: str) -> int:
        """The text's tokens (``count_tokens`` remembers those of recent texts: a poll sends
        the same text again and again)."""
        try:
            return count_tokens(query, self.max_tokens)
        except GraphQLSyntaxError:
            # Within the budget up to where the lexer stops: GraphQL reports that error,
            # with its location, as it reports any other syntax error.
            return 0


def _why(error: ValueError) -> str:
    """What a parse error says, without where (a caller's own text, shown back to it)."""
    return error.msg if isinstance(error, json.JSONDecodeError) else str(error)


def _as_json(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-type"]
    return [*kept, (b"content-type", b"application/json")]


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _refuse(send: Send, refused: Refused, answer: str) -> None:
    # A refusal of the operation itself (200 under application/json) is 400 under
    # application/graphql-response+json, like any request that did not execute.
    status = not_executed_status(answer) if refused.status == 200 else refused.status
    payload = error_body(status, refused.message, refused.code, **refused.extra)
    headers = [
        (b"content-type", answer.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="crmgraph", ApiKey header="X-API-Key"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
