"""Signed webhooks from a simulator to the one URL registered with it.

A vendor app hands its events to :meth:`WebhookSender.emit` and answers at once; a background
task on the simulator's event loop delivers them in order, one at a time, signing every attempt
as the vendor would. Control routes (served by :class:`~app.simulators.control.SimulatorControl`)::

    PUT    {prefix}/__webhooks  {"url": "http://127.0.0.1:…/…", "secret": "…",
                                 "mode": "normal" | "bad_signature" | "stale" | "duplicate",
                                 "attempts": 4, "backoff_ms": 100}
                                (player stats also take "secrets": [old, new])
    GET    {prefix}/__webhooks  the target without its secrets, and {"sent", "failed", "pending"}
    DELETE {prefix}/__webhooks  stop sending and drop what is queued

Modes: ``bad_signature`` signs with a wrong key; ``stale`` signs a timestamp ten minutes old
(consistently, so only its age is wrong); ``duplicate`` delivers every event twice.

Delivery is at least once: a non-2xx answer or a transport error is retried with exponential
backoff, up to ``attempts`` tries, then counted in ``failed``. Only loopback URLs are accepted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Mode = Literal["normal", "bad_signature", "stale", "duplicate"]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: How old a ``stale`` delivery's timestamp is: twice the five minutes receivers tolerate.
STALE_BY_SECONDS = 600.0
TIMEOUT_SECONDS = 3.0

#: ``(secrets, url, raw body, epoch seconds)`` → the signature headers of one delivery.
Sign = Callable[[Sequence[str], str, bytes, float], dict[str, str]]
#: ``(payload, attempt number from 0)`` → the raw body of that attempt.
Render = Callable[[Any, int], bytes]


def compact_json(payload: Any, attempt: int = 0) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def hubspot_v3_signature(
    secrets: Sequence[str], url: str, body: bytes, at: float
) -> dict[str, str]:
    """HubSpot v3: base64(HMAC-SHA256(secret, "POST" + URL + body + timestamp in ms))."""
    stamp = str(int(at * 1000))
    digest = _hmac(secrets[0], b"POST" + url.encode() + body + stamp.encode())
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-Version": "v3",
    }


def zendesk_signature(secrets: Sequence[str], url: str, body: bytes, at: float) -> dict[str, str]:
    """Zendesk: base64(HMAC-SHA256(secret, ISO-8601 timestamp + body))."""
    stamp = datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = _hmac(secrets[0], stamp.encode() + body)
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }


def player_stats_signature(
    secrets: Sequence[str], url: str, body: bytes, at: float
) -> dict[str, str]:
    """Player stats: ``t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, one ``v1`` a
    secret (several while a secret rotates)."""
    stamp = str(int(at))
    message = stamp.encode() + b"." + body
    signatures = ",".join(f"v1={_hmac(secret, message).hex()}" for secret in secrets)
    return {"X-Signature": f"t={stamp},{signatures}"}


@dataclass(frozen=True, slots=True)
class Scheme:
    """How one vendor signs and frames its deliveries."""

    sign: Sign
    several_secrets: bool = False  # may sign with more than one secret at once
    render: Render = compact_json
    headers: tuple[tuple[str, str], ...] = ()  # sent with every delivery


class WebhookTarget(BaseModel):
    """Where a simulator sends its webhooks, and how."""

    model_config = ConfigDict(extra="forbid")
    url: str
    secret: str | None = Field(None, min_length=1)
    secrets: list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)
    mode: Mode = "normal"
    attempts: int = Field(4, ge=1, le=10)
    backoff_ms: float = Field(100, ge=0, le=60_000)

    @field_validator("url")
    @classmethod
    def _loopback(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError(
                "a simulator sends webhooks only to a loopback http(s) URL "
                "(127.0.0.1, localhost or [::1])"
            )
        return url

    @model_validator(mode="after")
    def _one_kind_of_secret(self) -> WebhookTarget:
        if (self.secret is None) == (self.secrets is None):
            raise ValueError('give either "secret" or "secrets" (a list), not both nor neither')
        return self

    @property
    def keys(self) -> list[str]:
        return [self.secret] if self.secret is not None else list(self.secrets or ())

    def public(self) -> dict[str, Any]:
        """The target as reported back: everything but the secrets."""
        return self.model_dump(exclude={"secret", "secrets"})


class WebhookSender:
    """One simulator's queue of webhook deliveries and the task that works through it."""

    def __init__(self, scheme: Scheme, clock: Callable[[], float] = time.time) -> None:
        self.scheme = scheme
        self.clock = clock
        self.target: WebhookTarget | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._in_flight = 0
        self.sent = 0
        self.failed = 0

    def configure(self, target: WebhookTarget) -> None:
        """Send from now on to ``target``; must run on the simulator's event loop. Raises
        ``ValueError`` for ``secrets`` where the vendor signs with one secret only."""
        if target.secrets is not None and not self.scheme.several_secrets:
            raise ValueError('this simulator signs with one secret: give "secret", not "secrets"')
        self.target = target
        self._ensure_worker()

    def emit(self, payloads: Iterable[Any]) -> None:
        """Queue one delivery a payload (two in ``duplicate`` mode); never waits."""
        target = self.target
        if target is None:
            return
        copies = 2 if target.mode == "duplicate" else 1
        for payload in payloads:
            for _ in range(copies):
                self._queue.put_nowait(payload)
        self._ensure_worker()

    def status(self) -> dict[str, Any]:
        target = self.target.public() if self.target is not None else {"url": None}
        pending = self._queue.qsize() + self._in_flight
        return {**target, "sent": self.sent, "failed": self.failed, "pending": pending}

    async def stop(self) -> None:
        """Stop sending: forget the target, drop the queue and the delivery under way."""
        self.target = None
        self._queue = asyncio.Queue()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._in_flight = 0

    async def reset(self) -> None:
        await self.stop()
        self.sent = self.failed = 0

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="webhooks")

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            while True:
                payload = await self._queue.get()
                self._in_flight = 1
                try:
                    delivered = await self._deliver(client, payload)
                finally:
                    self._in_flight = 0
                if delivered:
                    self.sent += 1
                else:
                    self.failed += 1

    async def _deliver(self, client: httpx.AsyncClient, payload: Any) -> bool:
        attempt = 0
        while (target := self.target) is not None and attempt < target.attempts:
            if attempt:
                await asyncio.sleep(target.backoff_ms / 1000 * 2 ** (attempt - 1))
            body = self.scheme.render(payload, attempt)
            attempt += 1
            try:
                response = await client.post(
                    target.url, content=body, headers=self._headers(target, body)
                )
            except httpx.HTTPError:
                continue
            if response.is_success:
                return True
        return False

    def _headers(self, target: WebhookTarget, body: bytes) -> dict[str, str]:
        at = self.clock() - (STALE_BY_SECONDS if target.mode == "stale" else 0.0)
        keys = target.keys
        if target.mode == "bad_signature":
            keys = [f"not-{key}" for key in keys]
        signed = self.scheme.sign(keys, target.url, body, at)
        return {"Content-Type": "application/json", **dict(self.scheme.headers), **signed}
