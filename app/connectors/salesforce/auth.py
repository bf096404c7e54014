"""OAuth 2.0 client credentials for Salesforce, as an httpx auth flow.

Salesforce issues no refresh token and no expiry: a token is used until an answer says
``401 INVALID_SESSION_ID``; then one new token is fetched (concurrent requests wait for that
one fetch) and the request is sent once more.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import httpx

from app.connectors.errors import UpstreamAuthFailed
from app.connectors.secret import LiveSecret


class SalesforceClientCredentials(httpx.Auth):
    requires_response_body = True

    def __init__(
        self, source: str, token_url: str, client_id: LiveSecret, client_secret: LiveSecret
    ) -> None:
        self.source = source
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is None:
            async with self._lock:
                if self._token is None:
                    await self._accept((yield self._token_request()))
        used = self._token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        await response.aread()
        if response.status_code == 401 and _session_expired(response):
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
            },
        )

    async def _accept(self, response: httpx.Response) -> None:
        await response.aread()
        if response.status_code != 200:
            raise UpstreamAuthFailed(
                self.source,
                f"token request refused: HTTP {response.status_code} {_oauth_error(response)}",
                status=response.status_code,
            )
        token = response.json().get("access_token")
        if not isinstance(token, str) or not token:
            raise UpstreamAuthFailed(self.source, "token answer has no access_token")
        self._token = token
        self.tokens_fetched += 1


def _session_expired(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, list) and any(
        isinstance(e, dict) and e.get("errorCode") == "INVALID_SESSION_ID" for e in body
    )


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", ""))[:80] if isinstance(body, dict) else ""
