"""The one HTTP client every connector talks through.

It owns the httpx client of a source (connection pool, timeouts, auth), translates httpx's
exceptions into the upstream error tree, tells observers about each call (logs, metrics,
explain) and turns error statuses into errors with the vendor's own words. Rate budgets,
retries and circuit breakers wrap :meth:`UpstreamClient.send` (``app.resilience``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from app.connectors.errors import (
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One finished call, as observers see it: no bodies, no credentials."""

    source: str
    method: str
    route: str
    status: int | None
    elapsed_ms: float
    items: int | None
    error: str | None
    request_id: str | None


Observer = Callable[[UpstreamCall], None]
Describe = Callable[[httpx.Response], str]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (HTTP dates are not used by these CRMs)."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return None


class UpstreamClient:
    """A source's HTTP client. ``route`` names the documented route template of each call."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 20,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        observers: list[Observer] | None = None,
    ) -> None:
        self.source = source
        self.observers: list[Observer] = observers if observers is not None else []
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout or httpx.Timeout(10.0, connect=3.0),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers=dict(headers or {}),
            auth=auth,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self,
        method: str,
        url: str,
        *,
        route: str,
        items: int | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; transport failures become upstream errors, statuses do not."""
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        request_id: str | None = None
        try:
            response = await self._client.request(
                method, url, params=params, json=json, data=data, headers=headers
            )
            status = response.status_code
            request_id = response.headers.get("x-request-id") or response.headers.get(
                "x-hubspot-correlation-id"
            )
            return response
        except httpx.TimeoutException as exc:
            error = "timeout"
            raise UpstreamTimeout(self.source, f"{method} {route} timed out") from exc
        except httpx.TransportError as exc:
            error = type(exc).__name__
            raise UpstreamUnavailable(
                self.source, f"{method} {route} failed: {type(exc).__name__}"
            ) from exc
        finally:
            call = UpstreamCall(
                source=self.source,
                method=method,
                route=route,
                status=status,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                items=items,
                error=error,
                request_id=request_id,
            )
            for observe in self.observers:
                observe(call)

    def raise_for_status(self, response: httpx.Response, describe: Describe) -> None:
        """Raise the upstream error an error status means; ``describe`` reads the vendor's
        error body into a short message."""
        status = response.status_code
        if status < 400:
            return
        message = _safe_describe(describe, response)
        error: type[UpstreamError]
        if status == 429:
            raise UpstreamRateLimited(
                self.source, message, status=status, retry_after=retry_after_seconds(response)
            )
        if status in (401, 403):
            error = UpstreamAuthFailed
        elif status == 404:
            error = UpstreamNotFound
        elif status in (408, 504):
            error = UpstreamTimeout
        elif status >= 500:
            error = UpstreamUnavailable
        else:
            error = UpstreamRejected
        raise error(self.source, message, status=status)

    def json(self, response: httpx.Response) -> Any:
        """The answer's JSON body, or a protocol error if it is not JSON."""
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamProtocolError(
                self.source, f"answer to {response.request.method} is not JSON"
            ) from exc


def _safe_describe(describe: Describe, response: httpx.Response) -> str:
    try:
        return f"HTTP {response.status_code}: {describe(response)}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"HTTP {response.status_code}"
