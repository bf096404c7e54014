"""Bulk lead import: validate every row, create the valid ones 200 at a time, resumably.

``import_leads`` reads ``(line number, row)`` pairs, validates each row with
:func:`~app.domain.validation.validate_new_lead` (a rejected row keeps its line number and every
reason), and sends the valid ones through Salesforce's sObject Collections create
(the lead source's ``create_leads``), a few batches at a time; the source's rate budget paces
them. Rows Salesforce refuses are rejected with its own reasons.

**The ledger** makes a re-run after an interruption safe. On one machine it is an
append-only text file (:class:`FileLedger`), fsynced after every write:

    P <unix time> <line> <line> ...    a batch is about to be sent
    C <line> <lead id>                 that row was created (one line per row)

A re-run skips every row with a ``C`` entry. A row of a ``P`` batch without a ``C`` entry is
*in doubt* (the process stopped while its batch was in flight: Salesforce may or may not have
created it); before it is sent again it is looked up by email, and a Lead with that email
created since the batch was sent counts as its creation. An in-doubt row without an email
cannot be looked up and is sent again. A torn last line (a crash mid-write) is ignored.
With the Redis outbox the same entries live in a Redis hash (:class:`RedisLedger`), so an
import resumed by another instance knows what the first one created.

The import stops early (``ImportReport.stopped`` says why) when Salesforce is unavailable after
the client's own retries and breaker; rows not yet sent are neither created nor rejected, and
running the same import again carries on from the ledger. A refusal for the rate limit
(nothing was written) is waited out and the batch sent again.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from app.connectors.base import LeadWriter
from app.connectors.errors import UpstreamError, UpstreamRateLimited, UpstreamRejected
from app.connectors.http import UpstreamCall
from app.domain.models import Lead
from app.domain.validation import (
    Invalid,
    PhoneRegionOf,
    given_brand,
    no_phone_region,
    validate_new_lead,
)

#: Records per sObject Collections create.
BATCH_SIZE = 200
#: Batches in flight at once (the rate budget still decides when each is sent).
CONCURRENCY = 8
#: Attempts of one batch refused for the rate limit before the import stops.
RATE_LIMITED_ATTEMPTS = 5
#: How much earlier than its batch's ``P`` entry an in-doubt row's Lead may be dated (clocks).
CLOCK_SKEW = timedelta(minutes=5)

Problems = list[tuple[list[str], str, str]]


@dataclass(frozen=True, slots=True)
class Reason:
    field: str  # the input's column (camelCase), or "" for the row as a whole
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reasons: list[Reason]


@dataclass(slots=True)
class ImportReport:
    read: int = 0
    valid: int = 0
    created: int = 0
    #: Rows the ledger shows created by an earlier run.
    skipped: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    upstream_requests: int = 0
    wall_seconds: float = 0.0
    dry_run: bool = False
    #: Why the import stopped before every row was sent, or None when it finished.
    stopped: str | None = None

    @property
    def done(self) -> int:
        """Rows settled so far: created, skipped or rejected."""
        return self.created + self.skipped + len(self.rejected)

    def as_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "valid": self.valid,
            "created": self.created,
            "skipped": self.skipped,
            "rejected": [
                {"line": r.line, "reasons": [asdict(reason) for reason in r.reasons]}
                for r in self.rejected
            ],
            "upstream_requests": self.upstream_requests,
            "wall_seconds": round(self.wall_seconds, 3),
            "stopped": self.stopped,
        }


ProgressFn = Callable[[ImportReport], None]


class Ledger(ABC):
    """The rows an import created so far, and the rows of batches sent without an answer.
    ``load`` reads it; ``sending`` and ``record`` are durable when they return."""

    def __init__(self) -> None:
        self.created: dict[int, str] = {}
        self.pending: dict[int, float] = {}  # line -> when its batch was sent

    def in_doubt(self, line: int) -> float | None:
        """When the batch of a row sent without an answer went out, or None."""
        return None if line in self.created else self.pending.get(line)

    @abstractmethod
    async def load(self) -> None:
        """Read what earlier runs (of any instance) wrote."""

    @abstractmethod
    async def sending(self, lines: list[int], now: float) -> None:
        """A batch of these rows is about to be sent."""

    @abstractmethod
    async def record(self, created: list[tuple[int, str]]) -> None:
        """These rows were created (``(line, lead id)``)."""

    @abstractmethod
    async def close(self) -> None:
        """Release what the ledger holds open."""


class FileLedger(Ledger):
    """The ledger as the append-only file of the module docstring (one machine)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._handle: TextIO | None = None

    async def load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for raw in handle:
                if not raw.endswith("\n"):
                    break  # a torn last write
                parts = raw.split()
                try:
                    if parts[0] == "C" and len(parts) == 3:
                        self.created[int(parts[1])] = parts[2]
                    elif parts[0] == "P" and len(parts) >= 2:
                        sent = float(parts[1])
                        for line in parts[2:]:
                            self.pending[int(line)] = sent
                except (IndexError, ValueError):
                    continue

    def _write(self, text: str) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(text)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    async def sending(self, lines: list[int], now: float) -> None:
        self._write(f"P {now:.3f} {' '.join(map(str, lines))}\n")

    async def record(self, created: list[tuple[int, str]]) -> None:
        if created:
            self._write("".join(f"C {line} {lead_id}\n" for line, lead_id in created))
            self.created.update(created)

    async def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class RedisLedger(Ledger):
    """The ledger as one Redis hash (``C:<line>`` -> lead id, ``P:<line>`` -> when its batch
    was sent), shared by every instance: an import a dead instance left half-done is resumed
    by another without duplicates. The Redis client belongs to the caller."""

    def __init__(self, redis: Redis, key: str) -> None:
        super().__init__()
        self.redis = redis
        self.key = key

    async def load(self) -> None:
        # Shielded as in RedisOutbox._call: a cancelled import must not hang in redis-py.
        for name, value in (await asyncio.shield(self.redis.hgetall(self.key))).items():
            kind, _, line = _text(name).partition(":")
            if kind == "C":
                self.created[int(line)] = _text(value)
            elif kind == "P":
                self.pending[int(line)] = float(value)

    async def sending(self, lines: list[int], now: float) -> None:
        if lines:
            mapping: dict[FieldT, EncodableT] = {f"P:{line}": repr(now) for line in lines}
            await asyncio.shield(self.redis.hset(self.key, mapping=mapping))

    async def record(self, created: list[tuple[int, str]]) -> None:
        if created:
            mapping: dict[FieldT, EncodableT] = {f"C:{line}": id_ for line, id_ in created}
            await asyncio.shield(self.redis.hset(self.key, mapping=mapping))
            self.created.update(created)

    async def close(self) -> None:
        """Nothing held open: the Redis client is the caller's."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def created_since(leads: Iterable[Lead], sent: float) -> Lead | None:
    """The first of ``leads`` (found by a write's email) that the write sent at ``sent`` may
    have created: one created since then, give or take the clocks' skew."""
    since = datetime.fromtimestamp(sent, UTC) - CLOCK_SKEW
    recent = (lead for lead in leads if lead.created_at is None or lead.created_at >= since)
    return next(recent, None)


def snake(key: str) -> str:
    """``firstName`` and ``first_name`` both to ``first_name``."""
    return _CAMEL.sub("_", key.strip()).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def unknown_brand(brand: str | None, brands: Collection[str] | None) -> str | None:
    """Why ``brand`` cannot be written (not one of the config's ``brands``), or None."""
    if brand is None or brands is None or brand in brands:
        return None
    return f"no brand {brand!r}: the brands are {', '.join(sorted(brands))}"


def reasons(invalid: Invalid) -> list[Reason]:
    return [
        Reason(e.field[-1] if len(e.field) > 1 else "", e.code, e.message) for e in invalid.errors
    ]


Row = tuple[int, dict[str, Any]]
UNKNOWN_BRAND = "UNKNOWN_BRAND"


class _Importer:
    def __init__(
        self,
        leads: LeadWriter,
        ledger: Ledger | None,
        report: ImportReport,
        on_progress: ProgressFn | None,
        concurrency: int,
    ) -> None:
        self.leads = leads
        self.ledger = ledger
        self.report = report
        self.on_progress = on_progress
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task[None]] = set()

    def progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.report)

    def _problem_reasons(self, problems: Problems) -> list[Reason]:
        brand_field = self.leads.brand_field
        return [
            Reason(
                ",".join(_camel("brand" if f == brand_field else f) for f in fields), code, message
            )
            for fields, code, message in problems
        ]

    async def dispatch(self, batch: list[Row]) -> None:
        """Send a batch when a slot is free (waits for one; returns once it is sent off)."""
        await self.slots.acquire()
        if self.report.stopped is not None:
            self.slots.release()
            return
        task = asyncio.create_task(self._send(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    async def _send(self, batch: list[Row]) -> None:
        try:
            assert self.ledger is not None
            await self.ledger.sending([line for line, _ in batch], time.time())
            for attempt in range(1, RATE_LIMITED_ATTEMPTS + 1):
                try:
                    results = await self.leads.create_leads([values for _, values in batch])
                    break
                except UpstreamRateLimited as exc:
                    if attempt == RATE_LIMITED_ATTEMPTS:
                        raise
                    # Nothing was written; the budget now holds the next call back.
                    await asyncio.sleep(exc.retry_after or 0)
        except UpstreamRejected as exc:
            reasons = self._problem_reasons(exc.problems) or [Reason("", "REJECTED", exc.message)]
            self.report.rejected += [Rejection(line, reasons) for line, _ in batch]
            self.progress()
            return
        except UpstreamError as exc:
            if self.report.stopped is None:
                self.report.stopped = str(exc)
            return
        finally:
            self.slots.release()
        created: list[tuple[int, str]] = []
        for (line, _), (lead_id, problems) in zip(batch, results, strict=True):
            if lead_id is not None:
                created.append((line, lead_id))
            else:
                self.report.rejected.append(Rejection(line, self._problem_reasons(problems)))
        await self.ledger.record(created)
        self.report.created += len(created)
        self.progress()

    async def settle_in_doubt(self, rows: list[tuple[int, dict[str, Any], float]]) -> list[Row]:
        """Rows of an interrupted batch: those Salesforce already has are recorded as
        created (and skipped); the rest are returned to be sent."""
        assert self.ledger is not None
        by_email: dict[str, list[tuple[int, dict[str, Any], float]]] = {}
        resend: list[Row] = []
        for line, values, sent in rows:
            if values.get("email"):
                by_email.setdefault(values["email"], []).append((line, values, sent))
            else:
                resend.append((line, values))
        if not by_email:
            return resend
        found = await self.leads.leads_by_email(list(by_email), ["email", "created_at"])
        recovered: list[tuple[int, str]] = []
        for address, waiting in by_email.items():
            leads = list(found.get(address, []))
            for line, values, sent in waiting:
                match = created_since(leads, sent)
                if match is None:
                    resend.append((line, values))
                else:
                    leads.remove(match)
                    recovered.append((line, match.id.native))
        await self.ledger.record(recovered)
        self.report.skipped += len(recovered)
        return resend


async def import_leads(
    rows: Iterable[tuple[int, Mapping[str, Any] | Invalid]],
    leads: LeadWriter,
    ledger: Path | Ledger,
    *,
    dry_run: bool = False,
    phone_region: PhoneRegionOf = no_phone_region,
    on_progress: ProgressFn | None = None,
    concurrency: int = CONCURRENCY,
    brands: Collection[str] | None = None,
) -> ImportReport:
    """Import ``(line number, row)`` pairs as new Leads; see the module docstring.

    A row's keys may be camelCase or snake_case; a row given as :class:`Invalid` (the reader
    could not parse that line) is rejected with its errors. ``dry_run`` validates only: nothing
    is sent and the ledger is read (to count skipped rows) but never written. ``ledger``: a
    :class:`Ledger`, or the path of a :class:`FileLedger`. ``phone_region`` gives the region a
    row's phone number is read in from the row's brand. ``brands``: the config's; a row of
    any other brand is rejected.
    """
    started = time.monotonic()
    report = ImportReport(dry_run=dry_run)
    book = FileLedger(ledger) if isinstance(ledger, Path) else ledger
    await book.load()
    work = _Importer(leads, None if dry_run else book, report, on_progress, concurrency)

    def count(_: UpstreamCall) -> None:
        report.upstream_requests += 1

    size = min(BATCH_SIZE, leads.max_batch)
    leads.http.observers.append(count)
    try:
        batch: list[Row] = []
        doubtful: list[tuple[int, dict[str, Any], float]] = []
        for line, row in rows:
            if report.stopped is not None:
                break
            report.read += 1
            if dry_run and report.read % BATCH_SIZE == 0:
                work.progress()  # a dry run sends nothing: no answer reports its progress
            try:
                if isinstance(row, Invalid):
                    raise row
                data = {snake(k): v for k, v in row.items()}
                values = validate_new_lead(data, phone_region(given_brand(data)))
            except Invalid as invalid:
                report.rejected.append(Rejection(line, reasons(invalid)))
                continue
            unknown = unknown_brand(values.get("brand"), brands)
            if unknown is not None:
                report.rejected.append(Rejection(line, [Reason("brand", UNKNOWN_BRAND, unknown)]))
                continue
            report.valid += 1
            if line in book.created:
                report.skipped += 1
                continue
            if dry_run:
                continue
            sent = book.in_doubt(line)
            if sent is not None:
                doubtful.append((line, values, sent))
                continue
            batch.append((line, values))
            if len(batch) == size:
                await work.dispatch(batch)
                batch = []
            elif report.read % BATCH_SIZE == 0:
                work.progress()
                await asyncio.sleep(0)  # let answers in while a long file is validated
        if not dry_run and report.stopped is None:
            if doubtful:
                try:
                    batch += await work.settle_in_doubt(doubtful)
                except UpstreamError as exc:
                    report.stopped = str(exc)
                    batch = []
            for start in range(0, len(batch), size):
                await work.dispatch(batch[start : start + size])
        await work.drain()
    finally:
        for task in list(work.tasks):  # cancelled: the ledger keeps what was sent as P
            task.cancel()
        leads.http.observers.remove(count)
        await book.close()
        report.wall_seconds = time.monotonic() - started
    report.rejected.sort(key=lambda r: r.line)
    work.progress()
    return report
