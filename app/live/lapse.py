"""A websocket outlives the check of its credentials: an API key revoked (or expired) while it
is open, or a token past its ``exp``, must stop it. The connection's credentials are checked
again before each event is sent and every :data:`RECHECK_SECONDS`; once they lapse the socket
is closed with 4403 Forbidden, as a refused ``connection_init`` is, and an audit event says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketState

from app.auth.authenticate import Authenticator
from app.auth.principal import Principal

audit = logging.getLogger("crmgraph.audit")

#: How often an open connection's credentials are checked (one ``stat`` of the key file).
RECHECK_SECONDS = 0.25

FORBIDDEN = 4403


def _open(websocket: WebSocket) -> bool:
    return (
        websocket.application_state is WebSocketState.CONNECTED
        and websocket.client_state is WebSocketState.CONNECTED
    )


async def closed_if_lapsed(
    websocket: WebSocket, authenticator: Authenticator, principal: Principal
) -> bool:
    """Whether the credentials have lapsed; if so the socket is closed (once, audited)."""
    reason = authenticator.lapsed(principal)
    if reason is None:
        return False
    if getattr(websocket.state, "lapsed", False):
        return True
    websocket.state.lapsed = True
    audit.warning(
        "websocket closed: its credentials lapsed",
        extra={
            "event": "request.refused",
            "transport": "websocket",
            "code": "UNAUTHENTICATED",
            "reason": reason,
            "subject": principal.subject,
            "client": websocket.client.host if websocket.client else None,
        },
    )
    if _open(websocket):
        # The client may be closing at the same moment; either way the socket ends.
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(FORBIDDEN, "Forbidden")
    return True


async def watch(websocket: WebSocket, authenticator: Authenticator, principal: Principal) -> None:
    """Close ``websocket`` within :data:`RECHECK_SECONDS` of its credentials lapsing, even
    when no event comes; ends with the connection."""
    while _open(websocket):
        await asyncio.sleep(RECHECK_SECONDS)
        if await closed_if_lapsed(websocket, authenticator, principal):
            return
