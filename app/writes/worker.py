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
    """Up to ``capacity`` jobs in flight; a long one (a bulk import) holds only its own slot,
    never the jobs queued behind it for other records."""

    def __init__(
        self,
        outbox: Outbox,
        handlers: dict[str, Handler],
        *,
        interval: float = 0.5,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
        capacity: int = 10,
    ) -> None:
        self.outbox = outbox
        self.handlers = handlers
        self.interval = interval
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.capacity = capacity
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        recovered = await self.outbox.recover()
        if recovered:
            log.warning(
                "outbox: %d writes a stopped process left half-done are queued again", recovered
            )
        try:
            while True:
                jobs = []
                free = self.capacity - len(self._running)
                if free > 0:
                    try:
                        jobs = await self.outbox.claim_due(free)
                    except Exception:
                        log.exception("outbox worker could not claim jobs")
                for job in jobs:
                    task = asyncio.create_task(self._apply(job))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                if not jobs:
                    # Wake when a job finishes (its record's next job may be due) or after
                    # the interval, whichever comes first.
                    sleeper = asyncio.ensure_future(asyncio.sleep(self.interval))
                    try:
                        await asyncio.wait(
                            {*self._running, sleeper}, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        sleeper.cancel()
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _apply(self, job: Job) -> None:
        try:
            await self._applied(job)
        except Exception:
            log.exception("outbox job %s failed unexpectedly; it is queued again", job.id)
            delay = backoff(job.attempts + 1, base=self.backoff_base)
            try:
                await self.outbox.retry_later(job.id, "internal error", delay, self.max_attempts)
            except Exception:  # the start-up recovery will queue it again
                log.exception("outbox job %s could not be rescheduled", job.id)

    async def _applied(self, job: Job) -> None:
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
