"""The door of /graphql: body size, credentials, persisted queries and a token budget,
all checked before the body reaches GraphQL (so nothing refused here costs an upstream call).

A pure ASGI middleware. It puts the caller's Principal in ``scope["state"]["principal"]``.
Refusals are JSON in GraphQL's error shape, with an HTTP status where one fits (401, 413, 400)
and an audit event naming the caller where one is known.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from app.auth.authenticate import Authenticator, Unauthenticated
from app.auth.limits import count_tokens
from app.auth.persisted import PersistedQueryError, PersistedQueryStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

audit = logging.getLogger("crmgraph.audit")


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
            await _refuse(send, refused)
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
        if not headers.get("content-type", "").startswith("application/json"):
            return body  # multipart and the like: Strawberry answers for them
        try:
            payload = json.loads(body)
        except ValueError:
            raise Refused(400, "BAD_USER_INPUT", "the body is not valid JSON") from None
        if isinstance(payload, list):
            raise Refused(400, "BAD_USER_INPUT", "batched requests are not accepted; send one")
        if not isinstance(payload, dict):
            raise Refused(400, "BAD_USER_INPUT", "the body must be a JSON object")
        resolved = self._resolved(payload)
        return body if resolved is payload else json.dumps(resolved).encode()

    def _checked_query(self, query_string: bytes) -> bytes:
        params = dict(parse_qsl(query_string.decode("latin-1")))
        payload: dict[str, Any] = dict(params)
        if "extensions" in params:
            try:
                payload["extensions"] = json.loads(params["extensions"])
            except ValueError:
                raise Refused(400, "BAD_USER_INPUT", "extensions is not valid JSON") from None
        resolved = self._resolved(payload)
        if resolved is payload:
            return query_string
        return urlencode({**params, "query": resolved["query"]}).encode()

    def _resolved(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            resolved = self.persisted.resolve(payload)
        except PersistedQueryError as exc:
            raise Refused(200, exc.code, str(exc)) from None
        query = resolved.get("query")
        if isinstance(query, str):
            found = count_tokens(query, self.max_tokens)
            if found > self.max_tokens:
                raise Refused(
                    200,
                    "QUERY_TOO_COMPLEX",
                    f"the query has more than {self.max_tokens} tokens",
                    limit="tokens",
                    max=self.max_tokens,
                )
        return resolved


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _refuse(send: Send, refused: Refused) -> None:
    error = {"message": refused.message, "extensions": {"code": refused.code, **refused.extra}}
    payload = json.dumps({"data": None, "errors": [error]}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if refused.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="crmgraph", ApiKey header="X-API-Key"'))
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
