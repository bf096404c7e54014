"""OAuth 2.0 client credentials from the Microsoft identity platform, as an httpx auth flow.

A token (``scope``: the organization URL + ``/.default``) is fetched once and reused until
shortly before its ``expires_in`` runs out, or until Dataverse answers ``401``: then one new
token is fetched (concurrent requests wait for that one fetch) and the request is sent once
more. The client secret goes only into the token request's body; neither it nor the token
ever appears in a message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable

import httpx

from app.connectors.errors import UpstreamAuthFailed
from app.connectors.secret import LiveSecret

#: Renew this long before the token's expiry (at most a tenth of its lifetime).
EARLY = 300.0


class DynamicsClientCredentials(httpx.Auth):
    requires_response_body = True

    def __init__(
        self,
        source: str,
        token_url: str,
        scope: str,
        client_id: LiveSecret,
        client_secret: LiveSecret,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.token_url = token_url
        self.scope = scope
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._renew_at

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await self._accept((yield self._token_request()))
        used = self._token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            if self._token == used:  # nobody has fetched a new one meanwhile
                await self._accept((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id.value(),
                "client_secret": self._client_secret.value(),
                "scope": self.scope,
            },
            headers={"Accept": "application/json"},
        )

    async def _accept(self, response: httpx.Response) -> None:
        await response.aread()
        if response.status_code != 200:
            raise UpstreamAuthFailed(
                self.source,
                f"token request refused: HTTP {response.status_code} {_aad_error(response)}",
                status=response.status_code,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamAuthFailed(self.source, "token answer has no access_token")
        lifetime = _seconds(body.get("expires_in") if isinstance(body, dict) else None)
        self._token = token
        self._renew_at = self._clock() + lifetime - min(EARLY, lifetime / 10)
        self.tokens_fetched += 1


def _seconds(value: object) -> float:
    """``expires_in`` (a number, or a string of digits); an hour when it is missing."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 3600.0
    return seconds if seconds > 0 else 0.0


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
