"""OAuth 2.0 client credentials as an httpx auth flow, shared by the CRMs that use it.

A token is fetched once and reused by every request until it expires (its ``expires_in``,
renewed a little early; a CRM that gives none is trusted until it says otherwise) or until an
answer says it is no longer good (:meth:`ClientCredentials.expired`): then one new token is
fetched (concurrent requests wait for that one fetch) and the request is sent once more. The
client secret goes only into the token request's body; neither it nor a token ever appears in a
message. A vendor subclass says what its token request carries besides the credentials
(``extra``), which answers mean an expired token, and how its refusals are worded.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Callable, Mapping

import httpx

from app.connectors.bounded import AnswerTooLarge, read_within
from app.connectors.errors import UpstreamAuthFailed
from app.connectors.secret import LiveSecret

#: Renew this long before the token's expiry (at most a tenth of its lifetime).
EARLY = 300.0
#: The largest token answer, or refusal, read (a token answer holds a few hundred bytes).
MAX_AUTH_ANSWER_BYTES = 1024 * 1024


class ClientCredentials(httpx.Auth):
    requires_response_body = True

    def __init__(
        self,
        source: str,
        token_url: str,
        client_id: LiveSecret,
        client_secret: LiveSecret,
        *,
        extra: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._extra = dict(extra or {})
        self._clock = clock
        self._token: str | None = None
        self._renew_at = math.inf
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0

    def expired(self, response: httpx.Response) -> bool:
        """Whether this answer (its body read) says the token is no longer good."""
        return response.status_code == 401

    def refusal(self, response: httpx.Response) -> str:
        """What to say of a refused token request: never the secret, nor a description that
        may name the app."""
        try:
            body = response.json()
        except ValueError:
            return ""
        return str(body.get("error", ""))[:80] if isinstance(body, dict) else ""

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
        await self._read(response, "the answer to a refused (HTTP 401) request")
        if not self.expired(response):
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
                **self._extra,
            },
            headers={"Accept": "application/json"},
        )

    async def _read(self, response: httpx.Response, what: str) -> None:
        try:
            await read_within(response, MAX_AUTH_ANSWER_BYTES)
        except AnswerTooLarge as exc:
            raise UpstreamAuthFailed(
                self.source,
                f"{what} is larger than {exc.limit} bytes",
                status=response.status_code,
            ) from None

    async def _accept(self, response: httpx.Response) -> None:
        await self._read(response, "the token answer")
        if response.status_code != 200:
            raise UpstreamAuthFailed(
                self.source,
                f"token request refused: HTTP {response.status_code} {self.refusal(response)}",
                status=response.status_code,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamAuthFailed(self.source, "token answer has no access_token")
        self._token = token
        lifetime = _seconds(body.get("expires_in") if isinstance(body, dict) else None)
        self._renew_at = self._clock() + lifetime - min(EARLY, lifetime / 10)
        self.tokens_fetched += 1


def _seconds(value: object) -> float:
    """``expires_in`` (a number, or a string of digits); forever when the CRM gives none."""
    if value is None:
        return math.inf
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 3600.0
    return seconds if seconds > 0 else 0.0
