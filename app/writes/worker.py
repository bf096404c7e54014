"""Applies queued writes in order per record, with backoff; parks them after their attempts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.connectors.errors import UpstreamError, UpstreamRejected
from app.writes.outbox import Job, Outbox, backoff

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class OutboxWorker:
    def __init__(
        self,
        outbox: Outbox,
        handlers: dict[str, Handler],
        *,
        interval: float = 0.5,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
    ) -> None:
        self.outbox = outbox
        self.handlers = handlers
        self.interval = interval
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base

    async def run(self) -> None:
        recovered = await self.outbox.recover()
        if recovered:
            log.warning(
                "outbox: %d writes a stopped process left half-done are queued again", recovered
            )
        while True:
            try:
                jobs = await self.outbox.claim_due(10)
                await asyncio.gather(*(self._apply(job) for job in jobs))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox worker pass failed")
                jobs = []
            if not jobs:
                await asyncio.sleep(self.interval)

    async def _apply(self, job: Job) -> None:
        handler = self.handlers.get(job.operation)
        if handler is None:
            await self.outbox.retry_later(
                job.id, f"no handler for {job.operation}", 0, job.attempts + 1
            )
            return
        try:
            result = await handler(job.payload)
        except UpstreamRejected as rejected:
            # The CRM said no: retrying will not change its mind. Park it with its reason.
            await self.outbox.retry_later(job.id, rejected.message, 0, job.attempts + 1)
        except UpstreamError as exc:
            delay = backoff(job.attempts + 1, base=self.backoff_base)
            await self.outbox.retry_later(job.id, str(exc), delay, self.max_attempts)
        else:
            await self.outbox.applied(job.id, result)
