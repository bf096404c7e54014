"""Applies queued writes in order per record, with backoff; parks them after their attempts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.connectors.errors import (
    CircuitOpen,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from app.resilience.outage import Outage
from app.writes.backends import AnyOutbox
from app.writes.outbox import Job, OutboxError, backoff

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class WriteInFlight(UpstreamUnavailable):
    """A write sent by a process that died (or whose answer was lost) may still be under way
    at the CRM: not found yet, it is not sent again before ``retry_after`` seconds. Waiting
    costs no attempt."""

    def __init__(self, source: str, retry_after: float) -> None:
        super().__init__(
            source, "an earlier attempt may still be in flight", retry_after=retry_after
        )


class OutboxWorker:
    """Up to ``capacity`` jobs in flight; a long one (a bulk import) holds only its own slot,
    never the jobs queued behind it for other records.

    An outbox with leases (Redis: several instances) has them renewed every third of
    ``lease_seconds`` for the jobs in flight here, and expired ones (a dead instance's)
    recovered as often. Without leases (SQLite) ``recover`` runs once, at start-up, before any
    claim: it cannot tell a live claim from a dead one."""

    def __init__(
        self,
        outbox: AnyOutbox,
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
        #: The jobs being applied, by their task.
        self._running: dict[asyncio.Task[None], str] = {}
        self._claims = Outage("outbox worker's claim of due writes", log)
        self._upkeeps = Outage("outbox worker's lease upkeep", log)

    async def _recover(self) -> None:
        recovered = await self.outbox.recover()
        if recovered:
            log.warning(
                "outbox: %d writes a stopped process left half-done are queued again", recovered
            )

    async def _upkeep(self) -> None:
        """Renew our leases, and queue again the jobs whose lease ran out."""
        try:
            await self.outbox.keepalive(list(self._running.values()))
            await self._recover()
            self._upkeeps.worked()
        except Exception as exc:
            self._upkeeps.failed(exc, 0, expected=isinstance(exc, OutboxError))

    async def run(self) -> None:
        lease = self.outbox.lease_seconds
        every = lease / 3 if lease is not None else None
        if every is None:
            await self._recover()
        else:
            await self._upkeep()  # a Redis that is down now: tried again at the next upkeep
        upkeep_at = time.monotonic() + (every or 0)
        try:
            while True:
                if every is not None and time.monotonic() >= upkeep_at:
                    await self._upkeep()
                    upkeep_at = time.monotonic() + every
                jobs = []
                free = self.capacity - len(self._running)
                pause = self.interval
                if free > 0:
                    try:
                        jobs = await self.outbox.claim_due(free)
                        self._claims.worked()
                    except Exception as exc:
                        expected = isinstance(exc, OutboxError)
                        pause = self._claims.failed(exc, self.interval, expected=expected)
                for job in jobs:
                    task = asyncio.create_task(self._apply(job))
                    self._running[task] = job.id
                    task.add_done_callback(self._finished)
                if not jobs:
                    # Wake when a job finishes (its record's next job may be due), after the
                    # pause (longer while claims fail) or at the next upkeep, whichever first.
                    if every is not None:
                        pause = max(0.0, min(pause, upkeep_at - time.monotonic()))
                    sleeper = asyncio.ensure_future(asyncio.sleep(pause))
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

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)

    async def _apply(self, job: Job) -> None:
        try:
            await self._applied(job)
        except Exception:
            log.exception("outbox job %s failed unexpectedly; it is queued again", job.id)
            delay = backoff(job.attempts + 1, base=self.backoff_base)
            try:
                await self.outbox.retry_later(job.id, "internal error", delay, self.max_attempts)
            except Exception:  # recovery (start-up, or its lease running out) queues it again
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
        except WriteInFlight as waiting:
            await self.outbox.retry_later(
                job.id, str(waiting), waiting.retry_after or 0.0, job.attempts + 2
            )
        except CircuitOpen as failing_fast:
            # Nothing was sent: waiting for the source's breaker spends none of the write's
            # attempts, so an outage longer than the backoff never parks a write unsent.
            await self.outbox.retry_later(
                job.id, str(failing_fast), failing_fast.retry_after or 0.0, job.attempts + 2
            )
        except UpstreamRejected as rejected:
            # The CRM said no: retrying will not change its mind. Park it with its reason.
            await self.outbox.retry_later(job.id, rejected.message, 0, job.attempts + 1)
        except UpstreamError as exc:
            delay = backoff(job.attempts + 1, base=self.backoff_base)
            await self.outbox.retry_later(job.id, str(exc), delay, self.max_attempts)
        else:
            await self.outbox.applied(job.id, result)
