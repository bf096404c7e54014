"""Applies stored webhook events: normalise, forget the cached record, publish, mark done.

An event is marked done only after its change is published, so a worker stopped in between
leaves it to be claimed again (at least once; subscribers drop a repeated ``event_id``).
A failure is retried with backoff until ``max_attempts``, then the event is a dead letter
with the error as its reason; an event that can never become a change is one at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.cache.records import FieldCache
from app.cancellation import stop_if_cancelled
from app.live.changes import ChangeBus
from app.live.forget import forget
from app.resilience.outage import Outage
from app.webhooks.dialect import Poisoned
from app.webhooks.normalise import Normaliser
from app.webhooks.store import EventStore, StoredEvent
from app.writes.outbox import backoff

log = logging.getLogger(__name__)


class WebhookWorker:
    def __init__(
        self,
        store: EventStore,
        normaliser: Normaliser,
        cache: FieldCache | None,
        bus: ChangeBus,
        *,
        interval: float = 0.2,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        batch: int = 50,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.normaliser = normaliser
        self.cache = cache
        self.bus = bus
        self.interval = interval
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.batch = batch
        self._wake = wake or asyncio.Event()

    def wake(self) -> None:
        """New events are stored: look now rather than at the next interval."""
        self._wake.set()

    async def run(self) -> None:
        recovered = await self.store.recover()
        if recovered:
            log.warning(
                "webhooks: %d events a stopped worker left half-done are due again", recovered
            )
        outage = Outage("webhook worker pass", log)
        while True:
            self._wake.clear()  # before claiming: a wake during the pass is not lost
            pause = self.interval
            try:
                busy = await self.run_once()
                outage.worked()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                pause = outage.failed(exc, self.interval)
                busy = False
            stop_if_cancelled()  # a cancel redis-py lost during the pass
            if not busy:
                with contextlib.suppress(TimeoutError):
                    # not wait_for: on 3.11 it takes a cancel that comes with a wake for the wake
                    async with asyncio.timeout(pause):
                        await self._wake.wait()

    async def run_once(self) -> bool:
        """Claim due events and apply them in order; whether there were any."""
        events = await self.store.claim(self.batch)
        for event in events:
            await self.apply(event)
        return bool(events)

    async def apply(self, event: StoredEvent) -> None:
        try:
            change = self.normaliser.change(event)
            await forget(self.cache, change)
            await self.bus.publish(change)
        except Poisoned as exc:
            log.warning("webhook event %s is a dead letter: %s", event.id, exc)
            await self.store.dead(event, str(exc))
            return
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            delay = backoff(event.attempts + 1, base=self.backoff_base)
            if await self.store.retry_later(event, reason, delay, self.max_attempts):
                log.warning("webhook event %s is a dead letter: %s", event.id, reason)
            return
        await self.store.done(event)
