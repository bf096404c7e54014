"""OAuth 2.0 client credentials from the Microsoft identity platform, as an httpx auth flow.

A token (``scope``: the organization URL + ``/.default``) is fetched once and reused until
shortly before its ``expires_in`` runs out, or until Dataverse answers ``401``: then one new
token is fetched (concurrent requests wait for that one fetch) and the request is sent once
more. The client secret goes only into the token request's body; neither it nor the token
ever appears in a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from app.connectors.oauth import ClientCredentials
from app.connectors.secret import LiveSecret


class DynamicsClientCredentials(ClientCredentials):
    """The identity platform's token for one organization: ``scope`` is its URL +
    ``/.default``; any ``401`` from Dataverse means a new token."""

    def __init__(
        self,
        source: str,
        token_url: str,
        scope: str,
        client_id: LiveSecret,
        client_secret: LiveSecret,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            source, token_url, client_id, client_secret, extra={"scope": scope}, clock=clock
        )
        self.scope = scope

    def refusal(self, response: httpx.Response) -> str:
        return _aad_error(response)


def _aad_error(response: httpx.Response) -> str:
    """The error and its AADSTS code; never ``error_description``, which may name the app."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = str(body.get("error", ""))[:60]
    codes = body.get("error_codes")
    code = codes[0] if isinstance(codes, list) and codes else None
    return f"{error} (AADSTS{code})" if isinstance(code, int) else error
