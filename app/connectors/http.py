"""The one HTTP client every connector talks through.

It owns the httpx client of a source (connection pool, timeouts, auth) and everything that
keeps a call well-behaved: the request's deadline (``app.resilience.deadline``), the source's
circuit breaker, its rate budget, a cap on concurrent calls, and retries of idempotent calls
with backoff. It translates httpx's exceptions into the upstream error tree, tells observers
about each attempt (logs, metrics, explain) and turns error statuses into errors with the
vendor's own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from app.connectors.bounded import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TOTAL_SECONDS,
    AnswerTooLarge,
    exchange,
)
from app.connectors.errors import (
    CircuitOpen,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.observability import tracing
from app.resilience import deadline
from app.resilience.breaker import CircuitBreaker
from app.resilience.retry import RETRYABLE_STATUSES, RetryPolicy

#: Statuses that say the CRM took too long (``raise_for_status`` reads them as timeouts).
TIMEOUT_STATUSES = frozenset({408, 504})


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One finished attempt, as observers see it: no bodies, no credentials."""

    source: str
    method: str
    route: str
    status: int | None
    elapsed_ms: float
    items: int | None
    error: str | None
    #: The CRM's id of this call (``correlation_id``), for its support desk.
    request_id: str | None
    attempt: int = 1
    #: Requests left in the source's rate window after the call, when known.
    budget_left: float | None = None


class Budget(Protocol):
    """A source's rate budget (``app.resilience.budget.SourceBudget``)."""

    async def acquire(self, deadline: float | None, route: str | None = None) -> None: ...

    def observe(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes | None = None,
        route: str | None = None,
    ) -> None: ...


Observer = Callable[[UpstreamCall], None]
Describe = Callable[[httpx.Response], str]


#: Response headers naming the call for the CRM's support, most specific first.
CORRELATION_HEADERS = (
    "x-hubspot-correlation-id",
    "x-zendesk-request-id",
    "sforce-call-id",
    "x-request-id",
)


def correlation_id(response: httpx.Response) -> str | None:
    """The CRM's id of a call: a header, or (HubSpot errors) the body's ``correlationId``."""
    for header in CORRELATION_HEADERS:
        if value := response.headers.get(header):
            return str(value)
    if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            return None
        found = body.get("correlationId") if isinstance(body, dict) else None
        return found if isinstance(found, str) else None
    return None


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
        breaker: CircuitBreaker | None = None,
        budget: Budget | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        rng: random.Random | None = None,
        total: float = DEFAULT_TOTAL_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.source = source
        self.observers: list[Observer] = observers if observers is not None else []
        self.breaker = breaker
        self.budget = budget
        self.retry = retry or RetryPolicy(max_attempts=1)
        self.timeout = timeout or httpx.Timeout(10.0, connect=3.0)
        #: The longest one attempt may take, from sending to its answer's last byte, and the
        #: largest answer it may read (``app.connectors.bounded``).
        self.total = total
        self.max_response_bytes = max_response_bytes
        self._slots = asyncio.Semaphore(max_concurrency or max_connections)
        self._rng = rng or random.Random()
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=self.timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers=dict(headers or {}),
            auth=auth,
            transport=transport,
        )
        #: What a route's path is appended to: httpx's base URL, without its final slash
        #: (which httpx's text of a base URL with no path, ``https://example.zendesk.com``, lacks).
        self._prefix = str(self._client.base_url).rstrip("/")

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
        idempotent: bool | None = None,
        content: bytes | None = None,
        retry_timeouts: bool = True,
    ) -> httpx.Response:
        """Send one request, retried when it is idempotent (GETs, and reads sent as POST that
        say so) and the CRM was unwell or busy, within the request's deadline; a timeout (or a
        ``408``/``504``) is not retried unless ``retry_timeouts``, for a caller that would ask
        differently. ``content`` is a raw body (a multipart ``$batch``), beside ``json`` and
        ``data``. Transport failures become upstream errors; an error status is returned for
        :meth:`raise_for_status` to read."""
        retryable = (method == "GET") if idempotent is None else idempotent
        attempts = self.retry.max_attempts if retryable else 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._attempt(
                    method, url, route, items, params, json, data, headers, attempt, content
                )
            except (UpstreamTimeout, UpstreamUnavailable) as exc:
                timed_out = isinstance(exc, UpstreamTimeout) and not retry_timeouts
                if last or timed_out or isinstance(exc, CircuitOpen):
                    raise
                if not await self._pause(attempt):
                    raise
                continue
            status = response.status_code
            if status not in RETRYABLE_STATUSES or last:
                return response
            if status in TIMEOUT_STATUSES and not retry_timeouts:
                return response
            if not await self._pause(attempt):
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _target(
        self, url: str, params: Mapping[str, Any] | None
    ) -> tuple[str | httpx.URL, Mapping[str, Any] | None]:
        """The request's URL and the params left for httpx to add. A route's params are
        encoded here as httpx encodes them, and set as the query of the URL httpx parsed
        without them: a batch's query runs to kilobytes (a hundred ids or emails), and httpx
        parses a URL given as text character by character, ~0.7 ms for 5 kB, to find again
        the escapes it has just written. (httpx's parsed form is private; the version is
        pinned, and ``tests/integration/connectors/test_query_strings.py`` compares what goes
        on the wire with plain httpx's.)"""
        if not params or not url.startswith("/") or "?" in url:
            return url, params
        target = httpx.URL(self._prefix + url)
        parsed = target._uri_reference
        target._uri_reference = parsed._replace(query=str(httpx.QueryParams(params)))
        return target, None

    async def _pause(self, attempt: int) -> bool:
        """Wait before the next attempt; False when the deadline leaves no time for it."""
        wait = self.retry.backoff(attempt, self._rng)
        left = deadline.remaining()
        if left is not None and left <= wait:
            return False
        await asyncio.sleep(wait)
        return True

    async def _attempt(
        self,
        method: str,
        url: str,
        route: str,
        items: int | None,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        attempt: int,
        content: bytes | None = None,
    ) -> httpx.Response:
        # The attempt's span (the observers record its outcome on it) and the trace headers.
        with tracing.upstream_span(self.source, method, route, attempt) as trace_headers:
            if trace_headers:
                headers = {**(headers or {}), **trace_headers}
            until = deadline.current()
            if self.breaker is not None and not self.breaker.allow():
                raise CircuitOpen(
                    self.source,
                    "failing fast: too many recent calls failed",
                    retry_after=self.breaker.retry_after(),
                )
            try:
                return await self._go(
                    method, url, route, items, params, json, data, headers, attempt, content, until
                )
            except BaseException:
                # Cancelled, or out of time before it went: it said nothing of the CRM. A
                # probe that ends so lets the next call probe (after an answer: a no-op).
                if self.breaker is not None:
                    self.breaker.abandon()
                raise

    async def _go(
        self,
        method: str,
        url: str,
        route: str,
        items: int | None,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        attempt: int,
        content: bytes | None,
        until: float | None,
    ) -> httpx.Response:
        """One attempt past the breaker: the budget, the exchange, what it says of the CRM."""
        if self.budget is not None:
            await self.budget.acquire(until, route)
        if self._within(until) <= 0:
            raise UpstreamTimeout(self.source, "the request's deadline passed")
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        request_id: str | None = None
        try:
            target, query = self._target(url, params)
            request = self._client.build_request(
                method,
                target,
                params=query,
                json=json,
                data=data,
                content=content,
                headers=headers,
            )
            async with self._slot(until, method, route):
                within = max(self._within(until), 0.0)
                response = await exchange(
                    self._client, request, limit=self.max_response_bytes, seconds=within
                )
            status = response.status_code
            request_id = correlation_id(response)
            if self.budget is not None:
                self.budget.observe(status, response.headers, response.content, route)
            if self.breaker is not None:
                if status == 429:  # busy, not unwell: says nothing either way
                    self.breaker.abandon()
                else:
                    self.breaker.record(status < 500)
            return response
        except (httpx.TimeoutException, TimeoutError) as exc:
            error = "timeout"
            self._failed()
            raise UpstreamTimeout(self.source, f"{route} timed out") from exc
        except AnswerTooLarge as exc:
            error = "too_large"
            self._failed()
            raise UpstreamProtocolError(
                self.source,
                f"answer to {route} is larger than {exc.limit} bytes "
                f"(sources.{self.source}.max_response_bytes)",
            ) from exc
        except httpx.TransportError as exc:
            error = type(exc).__name__
            self._failed()
            raise UpstreamUnavailable(self.source, f"{route} failed: {type(exc).__name__}") from exc
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
                attempt=attempt,
                budget_left=self._budget_left(),
            )
            for observe in self.observers:
                observe(call)

    def _budget_left(self) -> float | None:
        state = getattr(self.budget, "state", None)
        remaining = getattr(state(), "remaining", None) if callable(state) else None
        return remaining if isinstance(remaining, int | float) else None

    def _failed(self) -> None:
        if self.breaker is not None:
            self.breaker.record(False)

    def _within(self, until: float | None) -> float:
        """Seconds an attempt may take from now, sending to the answer's last byte: the
        source's ``timeout.total``, cut to what is left of the request's deadline (``until``).
        httpx's own timeouts (connect, each read) stay the source's: this bounds the whole."""
        if until is None:
            return self.total
        return min(self.total, until - time.monotonic())

    @contextlib.asynccontextmanager
    async def _slot(self, until: float | None, method: str, route: str) -> AsyncIterator[None]:
        """One of the source's concurrent-call slots, waited for no longer than the deadline."""
        left = None if until is None else until - time.monotonic()
        try:
            # not wait_for: on 3.11 it drops a cancel that comes as a slot frees
            async with asyncio.timeout(left):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise UpstreamTimeout(
                self.source, f"{route}: no free connection before the deadline"
            ) from exc
        try:
            yield
        finally:
            self._slots.release()

    def raise_for_status(self, response: httpx.Response, describe: Describe) -> None:
        """Raise the upstream error an error status means; ``describe`` reads the vendor's
        error body into a short message."""
        status = response.status_code
        if status < 300:
            return
        if status < 400:  # not followed: an answer from elsewhere is not this CRM's
            raise UpstreamProtocolError(self.source, self._redirected(response), status=status)
        message = explained(describe, response)
        error: type[UpstreamError]
        if status == 429:
            raise UpstreamRateLimited(
                self.source, message, status=status, retry_after=retry_after_seconds(response)
            )
        if status in (401, 403):
            error = UpstreamAuthFailed
        elif status == 404:
            error = UpstreamNotFound
        elif status in TIMEOUT_STATUSES:
            error = UpstreamTimeout
        elif status >= 500:
            error = UpstreamUnavailable
        else:
            error = UpstreamRejected
        raise error(self.source, message, status=status)

    def _redirected(self, response: httpx.Response) -> str:
        """What a redirect says: where to (its origin only: a Location's path and query are
        the CRM's business), and what to change."""
        status = response.status_code
        try:
            target = response.request.url.join(response.headers.get("location", ""))
        except httpx.InvalidURL:
            return f"HTTP {status}: a redirect crmgraph does not follow"
        if target == response.request.url:
            return f"HTTP {status}: a redirect with no Location"
        return (
            f"HTTP {status}: redirected to {target.scheme}://{target.netloc.decode()}; "
            f"crmgraph does not follow redirects: if that is the CRM's address, set "
            f"sources.{self.source}.base_url to it"
        )

    def records(self, answer: Any, key: str) -> list[dict[str, Any]]:
        """``answer[key]``, an answer's list of records, or the CRM's protocol error: a list
        missing or of something else would otherwise read as "none found"."""
        found = answer.get(key) if isinstance(answer, dict) else None
        if not isinstance(found, list) or not all(type(r) is dict for r in found):
            raise UpstreamProtocolError(
                self.source, f"the answer's {key!r} is not a list of objects"
            )
        return found

    def json(self, response: httpx.Response) -> Any:
        """The answer's JSON body, or a protocol error if it is not JSON."""
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError(
                self.source, f"answer to {response.request.method} is not JSON"
            ) from exc


def error_text(code: object, message: object) -> str:
    """A CRM's error as ``code: message``, leaving out what it did not say."""
    return ": ".join(str(part) for part in (code, message) if part)[:300]


def said(describe: Describe, response: httpx.Response) -> str:
    """What a CRM's error answer says, as ``describe`` reads its body; ``HTTP <status>`` when
    the body says nothing readable (an HTML page from a proxy in front of the CRM, an empty
    body, another shape): never an exception."""
    return _read(describe, response) or f"HTTP {response.status_code}"


def explained(describe: Describe, response: httpx.Response) -> str:
    """``HTTP <status>: <what the body says>``, or ``HTTP <status>`` alone."""
    text = _read(describe, response)
    return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"


def _read(describe: Describe, response: httpx.Response) -> str:
    try:
        return describe(response)
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
