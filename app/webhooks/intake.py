"""``POST /webhooks/<route>``: check, store, answer; never process here.

Each route is a CRM's :class:`~app.webhooks.dialect.RoutedDialect` (its settings, signature
and event shape); nothing here knows one CRM from another.

In order, each refusal stores nothing:

- 404: the source has no webhook config;
- 403 (audited): the caller's address is outside the source's ``allow_ips``;
- 413: a body over ``max_body_bytes`` (by ``Content-Length``, and by the bytes read);
- 401 (audited): a missing or wrong signature, or a timestamp beyond the tolerance;
- 400: not JSON, or not the shape the CRM documents.

Then the events are stored durably (a repeated event id is not stored again) and the CRM is
answered 200 at once; the worker applies them afterwards. A store that cannot take them
answers 503, so the CRM delivers again later.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import IPvAnyNetwork

from app import json_input
from app.config import Settings
from app.connectors.secret import LiveSecret
from app.observability.metrics import webhook_event
from app.resilience.outage import Outage
from app.webhooks.dialect import Malformed, RoutedDialect, WebhookDialect
from app.webhooks.dialects import DIALECTS, in_use, routes
from app.webhooks.signatures import SignatureError
from app.webhooks.store import EventStore

log = logging.getLogger(__name__)

#: Seconds a CRM is asked to wait before delivering again when the events could not be stored.
#: Zendesk retries a 503 only when it carries a Retry-After under 60 s; the others retry a 5xx
#: on their own schedule whatever it says.
RETRY_AFTER_SECONDS = 10
audit = logging.getLogger("crmgraph.audit")


class Refused(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True, slots=True)
class Hook:
    """One source's webhook settings, with its secrets ready to use."""

    secrets: tuple[LiveSecret, ...]
    networks: tuple[IPvAnyNetwork, ...]

    def admits(self, host: str | None) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class WebhookIntake:
    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        on_stored: Callable[[], None] = lambda: None,
        dialects: Mapping[str, WebhookDialect[Any]] = DIALECTS,
    ) -> None:
        config = settings.webhooks
        self.store = store
        self.on_stored = on_stored
        # The store down: every delivery is refused (the CRM delivers again), the log told once.
        self._storing = Outage(
            "webhook intake's store",
            log,
            consequence="deliveries are answered 503 for the CRMs to deliver again",
            units=("delivery", "deliveries"),
        )
        self.max_body_bytes = config.max_body_bytes
        self.tolerance = config.tolerance_seconds
        self.public_url = str(config.public_url).rstrip("/") if config.public_url else None
        used = {kind for kind in in_use(settings, dialects)}
        self.routes = {r: d for r, d in routes(dialects).items() if d.kind in used}
        self.hooks: dict[str, Hook] = {}
        for route, dialect in self.routes.items():
            section = dialect.hook(config)
            if section is not None:
                secrets = tuple(ref.live() for ref in section.secrets)
                self.hooks[route] = Hook(secrets, tuple(section.allow_ips))
        self.sources = {
            route: settings.source_of(dialect.entity)[0] for route, dialect in self.routes.items()
        }

    async def receive(self, kind: str, request: Request) -> JSONResponse:
        hook = self.hooks.get(kind)
        if hook is None:
            return JSONResponse(
                {"error": "not_configured", "message": f"webhooks from {kind} are not configured"},
                status_code=404,
            )
        client = request.client.host if request.client else None
        try:
            if not hook.admits(client):
                raise Refused(403, "forbidden_ip", "this address may not deliver webhooks")
            body = await self._body(request)
            dialect = self.routes[kind]
            self._verify(dialect, hook, request, body)
            try:
                document = json_input.loads(body)
            except ValueError:  # UnicodeDecodeError is one, and so is nesting past 64
                raise Refused(400, "malformed", "the body is not JSON") from None
            try:
                events = dialect.split(self.sources[kind], document)
            except Malformed as exc:
                raise Refused(400, "malformed", str(exc)) from None
        except Refused as refused:
            self._refused(kind, client, refused)
            return JSONResponse(
                {"error": refused.outcome, "message": refused.message},
                status_code=refused.status,
            )
        try:
            stored = await self.store.add(events)
        except Exception as exc:
            self._storing.failed(exc, 0.0)
            webhook_event(kind, "unavailable")
            return JSONResponse(
                {"error": "unavailable", "message": "the events could not be stored; retry"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self._storing.worked()
        accepted = sum(stored)
        webhook_event(kind, "accepted" if accepted else "duplicate")
        if accepted:
            self.on_stored()
        return JSONResponse({"accepted": accepted, "duplicates": len(stored) - accepted})

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Refused(400, "malformed", "Content-Length is not a number")
            if int(declared) > self.max_body_bytes:
                raise Refused(413, "too_large", f"the body exceeds {self.max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise Refused(413, "too_large", f"the body exceeds {self.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _verify(
        self, dialect: RoutedDialect[Any], hook: Hook, request: Request, body: bytes
    ) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        secrets: Sequence[str] = [secret.value() for secret in hook.secrets]
        uri = self._uri(request)
        try:
            dialect.verify(secrets, request.method, uri, body, headers, time.time(), self.tolerance)
        except SignatureError as exc:
            raise Refused(401, exc.outcome, str(exc)) from None

    def _uri(self, request: Request) -> str:
        """The URL the CRM called, as it signed it."""
        if self.public_url is None:
            return str(request.url)
        query = request.url.query
        return self.public_url + request.url.path + (f"?{query}" if query else "")

    def _refused(self, kind: str, client: str | None, refused: Refused) -> None:
        webhook_event(kind, refused.outcome)
        if refused.status in (401, 403):
            audit.warning(
                "webhook refused",
                extra={
                    "event": "webhook.refused",
                    "source": kind,
                    "code": refused.outcome,
                    "reason": refused.message,
                    "client": client,
                },
            )
        else:
            log.info("webhook from %s refused (%s): %s", kind, refused.status, refused.message)


def webhook_router(
    intake: Callable[[], WebhookIntake | None],
    dialects: Mapping[str, WebhookDialect[Any]] = DIALECTS,
) -> APIRouter:
    """The routes, reading the running gateway's intake at each request."""
    router = APIRouter(prefix="/webhooks")
    names = tuple(routes(dialects))

    @router.post("/{kind}")
    async def receive(kind: str, request: Request) -> JSONResponse:
        if kind not in names:
            message = f"no webhook route {kind!r}; one of {', '.join(names)}"
            return JSONResponse({"error": "not_found", "message": message}, status_code=404)
        current = intake()
        if current is None:
            message = "the gateway is starting"
            return JSONResponse({"error": "unavailable", "message": message}, status_code=503)
        return await current.receive(kind, request)

    return router
