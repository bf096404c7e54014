"""The websocket side of /graphql: graphql-transport-ws connections, authenticated like HTTP.

The HTTP guard (``app.auth.guard``) lets websocket scopes through; a connection proves who it
is in its ``connection_init``: an ``Authorization``, ``apiKey`` or ``X-API-Key`` entry of the
payload (GraphiQL sends its Headers pane there), or else the ``Authorization`` / ``X-API-Key``
headers of the upgrade request. The same :class:`Authenticator` decides (API keys, JWTs, the
anonymous loopback rule); a refusal closes the socket with 4403 Forbidden and leaves an audit
event. Credentials that lapse while the socket is open (a key revoked, a token expired) close
it the same way (``app.live.lapse``). A caller already holding its cap of open connections
(``app.live.connections``) is closed with 4429 and the reason, and audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from app.auth.authenticate import Authenticator, Unauthenticated
from app.auth.principal import Principal
from app.graphiql import page
from app.graphql_http import GraphQLOverHTTPRouter
from app.live import lapse
from app.live.connections import TOO_MANY, CallerConnections

audit = logging.getLogger("crmgraph.audit")

#: connection_init payload entries (case-insensitive) → the header they stand for.
PAYLOAD_CREDENTIALS = {
    "authorization": "authorization",
    "apikey": "x-api-key",
    "x-api-key": "x-api-key",
}


class Connection(Protocol):
    """What the router needs of the per-connection GraphQL context."""

    request: Any
    connection_params: Any
    principal: Principal


def credentials(headers: Mapping[str, str], payload: object) -> dict[str, str]:
    """The credential headers to authenticate: the payload's when it carries any, else the
    upgrade request's."""
    given: dict[str, str] = {}
    if isinstance(payload, Mapping):
        for name, value in payload.items():
            header = PAYLOAD_CREDENTIALS.get(str(name).lower())
            if header is None:
                continue
            if not isinstance(value, str):
                raise Unauthenticated(f"connection_init {name} must be a string")
            given[header] = value
    if given:
        return given
    return {h: headers[h] for h in ("authorization", "x-api-key") if h in headers}


def _refused(code: str, reason: str, client: str | None, **who: str) -> None:
    """The audit event of a connection refused at its ``connection_init``."""
    extra = {"event": "request.refused", "transport": "websocket", "code": code}
    audit.warning("websocket refused", extra={**extra, "reason": reason, **who, "client": client})


class ClosingOnce(ASGIWebSocketAdapter):
    """Strawberry's adapter, whose close of a socket the gateway closed already (with its own
    code and reason) does nothing."""

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state is not WebSocketState.DISCONNECTED:
            await super().close(code, reason)


class LiveRouter(GraphQLOverHTTPRouter):
    websocket_adapter_class = ClosingOnce

    def __init__(
        self,
        *args: Any,
        authenticator: Authenticator,
        max_connections_per_caller: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.authenticator = authenticator
        self.connections = CallerConnections(max_connections_per_caller)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if not isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        try:
            return await super().run(request, context, root_value)
        finally:
            # The credentials' watch (started by on_ws_connect) ends with its connection, and
            # so does its place among its caller's connections.
            watch: asyncio.Task[None] | None = getattr(request.state, "watch", None)
            if watch is not None:
                watch.cancel()
            caller: str | None = getattr(request.state, "caller", None)
            if caller is not None:
                self.connections.release(caller)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        # Our page, not Strawberry's: its assets are the gateway's own (app.graphiql).
        return page(request)

    async def on_ws_connect(self, context: Connection) -> UnsetType | dict[str, object] | None:
        websocket = context.request
        client = websocket.client.host if websocket.client else None
        try:
            found = credentials(websocket.headers, context.connection_params)
            found["host"] = websocket.headers.get("host", "")  # for the anonymous rule
            context.principal = await self.authenticator.authenticate(found, client)
        except Unauthenticated as exc:
            _refused("UNAUTHENTICATED", str(exc), client)
            raise ConnectionRejectionError from None
        caller = context.principal.subject
        if not self.connections.admit(caller):
            await self._refuse_another(websocket, caller, client)
            raise ConnectionRejectionError
        websocket.state.caller = caller
        websocket.state.watch = asyncio.create_task(
            lapse.watch(websocket, self.authenticator, context.principal)
        )
        acknowledged: UnsetType = UNSET
        return acknowledged

    async def _refuse_another(self, websocket: WebSocket, caller: str, client: str | None) -> None:
        limit = self.connections.limit
        reason = f"too many open connections for this caller ({limit})"
        why = f"{reason}: live.max_connections_per_caller"
        _refused("TOO_MANY_CONNECTIONS", why, client, subject=caller)
        with contextlib.suppress(RuntimeError, OSError):  # the client may be gone already
            await websocket.close(TOO_MANY, reason)
