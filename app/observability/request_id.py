"""Every HTTP request gets an id: the caller's ``X-Request-Id`` when it is sane, else a new
one. It is returned in the response's ``X-Request-Id`` and bound to every log event of the
request (the caller and the operation name are bound once known, by the schema's
``Observe`` extension)."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logging import bind, unbind

HEADER = b"x-request-id"
#: Letters, digits and ``._:-``, at most 128: safe in a log line and a header.
SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(raw: bytes | None) -> str:
    """The caller's id if it is sane, else a fresh one."""
    if raw is not None:
        text = raw.decode("latin-1")
        if SANE.match(text):
            return text
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI: no body buffering, so it costs nothing on a streamed answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(HEADER)
        rid = request_id(given)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, rid.encode("latin-1"))]
            await send(message)

        tokens = bind(request_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            unbind(tokens)
