"""Run-time control of a simulator: latency, faults, rate limits and request counters.

Every simulator is wrapped in :class:`SimulatorControl`, a pure ASGI middleware that answers
the control routes itself and shapes every other request before the vendor app sees it::

    PUT  {prefix}/__config   {"latency_ms", "jitter_ms", "error_rate", "error_status",
                              "timeout_rate", "timeout_ms", "drop_rate", "lost_rate",
                              "clean_first",
                              "rate_limit": {"requests", "per_seconds"},
                              "routes": {"POST /crm/v3/objects/contacts/batch/read": {...}}}
    GET  {prefix}/__config   what is in force ({} resets it)
    GET  {prefix}/__stats    {"total", "requests": {"METHOD /route/template": n},
                              "refused": {"total", "requests": {...}, "reasons": {...}}}
    GET  {prefix}/__requests the last requests served (method, path, query, body, status, and
                             ``times``: arrived, served after its latency, answered; seconds
                             of ``time.monotonic()``, one clock for every process of this
                             machine), newest last
    POST {prefix}/__reset    zeroes the counters and the request log, and forgets the webhook
                             target (?data=true: and restores the seeded records)
    PUT|GET|DELETE {prefix}/__webhooks   where and how the simulator sends signed webhooks
                             (see :mod:`app.simulators.webhooks`; not every vendor sends them)

Any other ``/__…`` path is the vendor's own control route (served, never counted).

How a vendor says "too many requests" or "server error" differs, so each simulator passes a
:class:`Dialect` that renders its own error bodies and rate-limit headers.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.routing import BaseRoute, Match

from app.simulators.webhooks import WebhookSender, WebhookTarget

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Refusal = tuple[int, Any, list[tuple[str, str]]]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_ROUTES = ("/__config", "/__stats", "/__reset", "/__requests", "/__webhooks")
UNMATCHED = "UNMATCHED"


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


class Faults(BaseModel):
    """Fault settings; at the top level they apply to every route, under ``routes`` to one."""

    model_config = ConfigDict(extra="forbid")
    latency_ms: float = Field(0, ge=0)
    jitter_ms: float = Field(0, ge=0)
    error_rate: float = Field(0, ge=0, le=1)
    error_status: int = Field(500, ge=400, le=599)
    timeout_rate: float = Field(0, ge=0, le=1)
    timeout_ms: float = Field(30_000, ge=0)
    drop_rate: float = Field(0, ge=0, le=1)
    #: The request is carried out, then its answer is lost (the connection dropped): the
    #: case where a client cannot know whether its write happened.
    lost_rate: float = Field(0, ge=0, le=1)
    #: The first n requests after the config is put are served untouched (no latency, no
    #: fault), counted per route under ``routes``: "it fails from the n+1st call on".
    clean_first: int = Field(0, ge=0)
    rate_limit: RateLimit | None = None


class ControlConfig(Faults):
    routes: dict[str, Faults] = Field(default_factory=dict)
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """Where a rate window stands, for the vendor's rate-limit headers."""

    limit: int
    remaining: int
    reset_seconds: float
    window_seconds: float


class Dialect(Protocol):
    """How one vendor words refusals and reports its rate budget."""

    def rate_headers(self, budget: Budget) -> list[tuple[str, str]]: ...

    def throttled(self, budget: Budget, retry_after: float) -> Refusal:
        """Status, body (JSON-able, or a str sent as text/plain) and extra headers for a
        request over the rate limit."""
        ...

    def fault(self, status: int) -> Any:
        """JSON body for an injected server error with ``status``."""
        ...


class FixedWindow:
    """A fixed-window counter: ``requests`` per ``per_seconds``, aligned to its first hit."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.started = time.monotonic()
        self.used = 0

    def _roll(self, now: float) -> None:
        if now - self.started >= self.limit.per_seconds:
            elapsed = now - self.started
            self.started += (elapsed // self.limit.per_seconds) * self.limit.per_seconds
            self.used = 0

    def take(self) -> tuple[bool, Budget]:
        now = time.monotonic()
        self._roll(now)
        allowed = self.used < self.limit.requests
        if allowed:
            self.used += 1
        return allowed, self.budget(now)

    def budget(self, now: float | None = None) -> Budget:
        now = time.monotonic() if now is None else now
        self._roll(now)
        return Budget(
            limit=self.limit.requests,
            remaining=max(self.limit.requests - self.used, 0),
            reset_seconds=max(self.started + self.limit.per_seconds - now, 0.0),
            window_seconds=self.limit.per_seconds,
        )


@dataclass(slots=True)
class Stats:
    total: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=2000))

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "requests": dict(self.requests),
            "refused": {
                "total": sum(self.refused.values()),
                "requests": dict(self.refused),
                "reasons": dict(self.reasons),
            },
        }


class DropConnection(Exception):
    """Raised mid-response so that the server cuts the connection (a simulated network drop)."""


class SimulatorControl:
    """ASGI middleware: control routes, route statistics, latency, faults and rate limits.

    ``nominal`` is the rate budget the vendor advertises in its headers when no limit is
    configured; it is reported but not enforced.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: list[BaseRoute],
        dialect: Dialect,
        nominal: RateLimit,
        seed: int = 0,
        reseed: Callable[[], None] | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.app = app
        self.reseed = reseed
        self.webhooks = webhooks
        self.routes = routes
        self.dialect = dialect
        self.nominal = nominal
        self.seed = seed
        self.stats = Stats()
        self.configure(ControlConfig())

    def configure(self, config: ControlConfig) -> None:
        self.config = config
        self.since_config: Counter[str] = Counter()
        self.rng = random.Random(self.seed if config.seed is None else config.seed)
        self.windows: dict[str, FixedWindow] = {}
        self.nominal_window = FixedWindow(self.nominal)

    def reset(self) -> None:
        """Zero the counters and the request log, and start every rate window afresh."""
        self.stats = Stats()
        self.windows.clear()
        self.nominal_window = FixedWindow(self.nominal)

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"][len(scope.get("root_path", "")) :] or "/"
        if path in CONTROL_ROUTES:
            await self._control(path, scope, receive, send)
            return
        if path.startswith("/__"):  # a vendor's own control route: served, never counted
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        template = self.route_template(scope)
        self.stats.total += 1
        self.stats.requests[template] += 1
        faults = self.faults_for(template)
        counted = template if template in self.config.routes else ""
        self.since_config[counted] += 1
        if self.since_config[counted] <= faults.clean_first:
            faults = Faults(rate_limit=faults.rate_limit)

        budget, refused = self._take_budget(template, faults)
        if refused is not None:
            self._refuse(template, "rate_limited")
            status, body, headers = refused
            await _send_json(send, status, body, headers)
            return

        delay = faults.latency_ms + (self.rng.random() * faults.jitter_ms)
        if delay:
            await asyncio.sleep(delay / 1000)

        roll = self.rng.random()
        if roll < faults.timeout_rate:
            self._refuse(template, "timeout")
            await asyncio.sleep(faults.timeout_ms / 1000)
            await _send_json(send, 504, self.dialect.fault(504), self.dialect.rate_headers(budget))
            return
        roll -= faults.timeout_rate
        if roll < faults.drop_rate:
            self._refuse(template, "drop")
            await _drop(send)
            return
        roll -= faults.drop_rate
        if roll < faults.lost_rate:
            self._refuse(template, "lost")

            async def discard(_: Message) -> None:
                return None

            await self._serve(scope, receive, discard, budget, arrived)
            await _drop(send)
            return
        roll -= faults.lost_rate
        if roll < faults.error_rate:
            self._refuse(template, "error")
            body = self.dialect.fault(faults.error_status)
            await _send_json(send, faults.error_status, body, self.dialect.rate_headers(budget))
            return

        await self._serve(scope, receive, send, budget, arrived)

    def templates(self) -> set[str]:
        """Every ``"METHOD /route"`` this simulator serves."""
        return {
            f"{method} {getattr(route, 'path', '')}"
            for route in self.routes
            for method in (getattr(route, "methods", None) or ())
        }

    def faults_for(self, template: str) -> Faults:
        """The top-level faults, refined by what the route's own entry sets explicitly."""
        override = self.config.routes.get(template)
        if override is None:
            return self.config
        top = {k: getattr(self.config, k) for k in Faults.model_fields}
        mine = {k: getattr(override, k) for k in override.model_fields_set}
        # The route's own rate limit is a separate window; the top-level one still applies.
        top["rate_limit"] = None
        return Faults(**{**top, **mine})

    def route_template(self, scope: Scope) -> str:
        """``"METHOD /route/{template}"`` of the route this request matches, as the vendor
        documents it, or ``UNMATCHED``."""
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return f"{scope['method']} {getattr(route, 'path', '')}"
            if match is Match.PARTIAL and partial is None:
                partial = route
        if partial is not None:
            return f"{scope['method']} {getattr(partial, 'path', '')}"
        return UNMATCHED

    def _take_budget(self, template: str, faults: Faults) -> tuple[Budget, Refusal | None]:
        """The account's budget after this request, and the refusal when it is over the
        account's limit or its route's own. The rate headers always tell the account's
        budget (the configured limit, else the nominal one), as the CRMs' do: a route's own
        limit shows only in its refusal (``Retry-After``, the vendor's wording). A refused
        request uses up neither."""
        if self.config.rate_limit is not None:
            account = self.windows.setdefault("*", FixedWindow(self.config.rate_limit))
        else:
            account = self.nominal_window  # reported, never enforced
        route = None
        if faults.rate_limit is not None:
            route = self.windows.setdefault(template, FixedWindow(faults.rate_limit))
        for window in (account, route):
            if window is None or window is self.nominal_window:
                continue
            state = window.budget()
            if state.remaining == 0:
                status, body, headers = self.dialect.throttled(
                    state, max(state.reset_seconds, 0.001)
                )
                if window is route:
                    headers = self._account_headers(headers, state, account.budget())
                return account.budget(), (status, body, headers)
        account.take()
        if route is not None:
            route.take()
        return account.budget(), None

    def _account_headers(
        self, headers: list[tuple[str, str]], route: Budget, account: Budget
    ) -> list[tuple[str, str]]:
        """A route's refusal's headers, with the account's rate headers for the route's."""
        own = {name.lower() for name, _ in self.dialect.rate_headers(route)}
        kept = [(name, value) for name, value in headers if name.lower() not in own]
        return [*kept, *self.dialect.rate_headers(account)]

    def _refuse(self, template: str, reason: str) -> None:
        self.stats.refused[template] += 1
        self.stats.reasons[reason] += 1

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, budget: Budget, arrived: float
    ) -> None:
        """The vendor's app answers; the request is logged with its times (``arrived``, served
        after its latency, answered)."""
        served = time.monotonic()
        chunks: list[bytes] = []

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = self.dialect.rate_headers(budget)
                extra = [(k.lower().encode(), v.encode()) for k, v in headers]
                message["headers"] = list(message.get("headers", [])) + extra
                times = {"arrived": arrived, "served": served, "answered": time.monotonic()}
                self._log(scope, b"".join(chunks), message["status"], times)
            await send(message)

        await self.app(scope, recording_receive, send_with_headers)

    def _log(self, scope: Scope, body: bytes, status: int, times: dict[str, float]) -> None:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode("utf-8", "replace")
        self.stats.log.append(
            {
                "method": scope["method"],
                "path": scope["path"][len(scope.get("root_path", "")) :],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "body": parsed,
                "status": status,
                "times": times,
            }
        )

    # -- control routes -------------------------------------------------------------------------

    async def _control(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if path == "/__stats" and method == "GET":
            await _send_json(send, 200, self.stats.as_json())
        elif path == "/__requests" and method == "GET":
            await _send_json(send, 200, {"requests": list(self.stats.log)})
        elif path == "/__reset" and method == "POST":
            # ?data=true also restores the seeded records, undoing every write.
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            reseed = query.get("data", [""])[-1] == "true"
            self.reset()
            if self.webhooks is not None:
                await self.webhooks.reset()
            if reseed and self.reseed is not None:
                self.reseed()
            await _send_json(send, 200, {"reset": True, "data": reseed})
        elif path == "/__webhooks":
            await self._webhooks(method, receive, send)
        elif path == "/__config" and method == "GET":
            await _send_json(send, 200, self.config.model_dump(exclude_defaults=True))
        elif path == "/__config" and method == "PUT":
            body = await _read_body(receive)
            try:
                config = ControlConfig.model_validate_json(body or b"{}")
            except ValidationError as exc:
                await _send_json(send, 400, {"errors": _errors(exc)})
                return
            unknown = sorted(set(config.routes) - self.templates())
            if unknown:
                errors = [
                    {"path": f"routes.{key}", "message": "no such route; see GET __stats keys"}
                    for key in unknown
                ]
                await _send_json(send, 400, {"errors": errors})
                return
            self.configure(config)
            await _send_json(send, 200, config.model_dump(exclude_defaults=True))
        else:
            await _send_json(send, 405, {"error": f"{method} not allowed on {path}"})

    async def _webhooks(self, method: str, receive: Receive, send: Send) -> None:
        webhooks = self.webhooks
        if webhooks is None:
            message = "this simulator sends no webhooks (for Salesforce, poll SystemModstamp)"
            await _send_json(send, 404, {"error": message})
        elif method == "GET":
            await _send_json(send, 200, webhooks.status())
        elif method == "DELETE":
            await webhooks.stop()
            await _send_json(send, 200, webhooks.status())
        elif method == "PUT":
            try:
                target = WebhookTarget.model_validate_json(await _read_body(receive) or b"{}")
                webhooks.configure(target)
            except ValidationError as exc:
                await _send_json(send, 400, {"errors": _errors(exc)})
                return
            except ValueError as exc:
                await _send_json(send, 400, {"errors": [{"path": "secrets", "message": str(exc)}]})
                return
            await _send_json(send, 200, target.public())
        else:
            await _send_json(send, 405, {"error": f"{method} not allowed on /__webhooks"})


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(
    send: Send, status: int, body: Any, headers: list[tuple[str, str]] | None = None
) -> None:
    # A dialect may answer in plain text (Zendesk's 429 is a sentence, not JSON).
    if isinstance(body, str):
        payload, kind = body.encode(), b"text/plain; charset=utf-8"
    else:
        payload, kind = json.dumps(body).encode(), b"application/json"
    raw = [(b"content-type", kind), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers or []]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _drop(send: Send) -> None:
    # Promise a body and never deliver it: the server closes the connection mid-response and
    # the client sees the peer hang up, as when a load balancer resets a connection.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )
    raise DropConnection("connection dropped by fault injection")
