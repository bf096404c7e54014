"""Writes: validated in the domain before any upstream call, applied at once when the CRM
answers, queued durably when it cannot, once per idempotency key.

Every mutation is one :class:`Write`: what to call, what to queue if the call cannot be made
now, and which cached entries it makes wrong. ``WriteService.run`` does the rest the same way
for all of them (idempotency, outbox, read-your-writes, audit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.auth.principal import Principal
from app.cache.groups import FIELDS
from app.cache.records import FieldCache
from app.connectors.base import CustomerWriter, LeadWriter, PlayerWriter, TicketWriter
from app.connectors.errors import (
    CircuitOpen,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from app.domain import validation as v
from app.domain.custom import CustomFieldSpec
from app.domain.entities import ENTITIES
from app.domain.models import Lead
from app.domain.validation import FieldError, Invalid
from app.resilience.outage import Outage
from app.writes.backends import AnyOutbox, import_ledger
from app.writes.idempotency import IN_PROGRESS, IdempotencyStore, SharedIdempotencyStore
from app.writes.importer import (
    UNKNOWN_BRAND,
    ImportReport,
    Reason,
    Rejection,
    created_since,
    import_leads,
    reasons,
    unknown_brand,
)
from app.writes.outbox import APPLIED, Job, OutboxError, WritesUnavailable
from app.writes.worker import WriteInFlight

audit = logging.getLogger("crmgraph.audit")
log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
#: A request's deadline (``server.request_deadline``, 10 s) and a margin: past it, a create
#: sent by a process that died can no longer be under way at the CRM.
SETTLE_SECONDS = 15.0


@dataclass(slots=True)
class UserError:
    field: list[str] | None
    code: str
    message: str


@dataclass(slots=True)
class Outcome:
    """What a mutation answers: APPLIED with the record, QUEUED with a job, or user errors."""

    status: str | None = None  # APPLIED | QUEUED | None when refused
    record_id: str | None = None
    job_id: str | None = None
    user_errors: list[UserError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        errors = [UserError(**e) for e in data.get("user_errors", [])]
        return cls(data.get("status"), data.get("record_id"), data.get("job_id"), errors)


@dataclass(frozen=True, slots=True)
class Write:
    """One validated write: ``operation`` names its worker handler, ``payload`` is what the
    handler needs (JSON), ``record_key`` orders it after earlier writes to the same record."""

    mutation: str
    source: str
    entity: str
    record_key: str
    operation: str
    payload: dict[str, Any]
    record_id: str | None = None  # known before applying (updates)
    queue: bool = False  # always through the outbox (long work: a bulk import)


def _rejected(rejected: UpstreamRejected) -> Outcome:
    """The CRM's own refusal, as userErrors pointing at the caller's input where it can."""
    errors = [
        UserError(
            ["input", *(p for f in fields for p in f.split("."))] if fields else None, code, message
        )
        for fields, code, message in rejected.problems
    ]
    return Outcome(user_errors=errors or [UserError(None, "REJECTED", rejected.message)])


class ImportInterrupted(UpstreamUnavailable):
    """An import stopped because Salesforce could not take more; it resumes later."""

    def __init__(self, source: str, why: str) -> None:
        super().__init__(source, f"the import stopped: {why}")


def _maybe_applied(exc: Exception) -> bool:
    """Whether a failed call may have reached the CRM and been carried out: not when it was
    never sent (breaker open, our rate budget) or the CRM refused it outright."""
    return isinstance(exc, UpstreamError) and not isinstance(
        exc, CircuitOpen | UpstreamRateLimited | UpstreamAuthFailed
    )


def _not_found(source: str, entity: str, native: str) -> UpstreamRejected:
    """A record a write checked only when applied turned out missing or out of scope."""
    message = f"no {entity} with id {native}"
    return UpstreamRejected(source, message, problems=[([], "NOT_FOUND", message)])


def _scope(principal: Principal) -> list[str] | None:
    """The brands a caller may write (None: all), kept with a write checked when applied."""
    return None if principal.brands is None else sorted(principal.brands)


def _within(scope: list[str] | None, brand: str | None) -> bool:
    return scope is None or brand in scope


def _contact_of(lead: Lead) -> dict[str, Any]:
    details = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": lead.phone,
        "company": lead.company,
        "brand": lead.brand,
    }
    return {k: v for k, v in details.items() if v}


def _errors(invalid: Invalid) -> list[UserError]:
    return [UserError(list(e.field), e.code, e.message) for e in invalid.errors]


class WriteService:
    def __init__(
        self,
        leads: LeadWriter,
        outbox: AnyOutbox,
        keys: IdempotencyStore | SharedIdempotencyStore,
        cache: FieldCache | None,
        phone_region: v.PhoneRegionOf,
        tickets: TicketWriter | None = None,
        customers: CustomerWriter | None = None,
        players: PlayerWriter | None = None,
        settle_seconds: float = SETTLE_SECONDS,
        brands: Collection[str] | None = None,
        custom: Mapping[str, Mapping[str, CustomFieldSpec]] | None = None,
    ) -> None:
        self.leads = leads
        #: The config's custom fields by entity (what a write may set of them, and where).
        self.custom = dict(custom or {})
        #: The config's brands: a new record of any other is refused (None: not checked).
        self.brands = brands
        #: How long a create sent without an answer may still be under way at the CRM.
        self.settle = settle_seconds
        self.tickets = tickets
        self.customers = customers
        self.players = players
        self.outbox = outbox
        self._outbox_down = Outage(
            "the outbox",
            log,
            consequence="writes are refused with SERVICE_UNAVAILABLE before anything is sent",
            units=("write", "writes"),
        )
        self.keys = keys
        self.cache = cache
        #: The region a phone number of a record of a brand is read in.
        self.phone_region = phone_region
        #: Progress of the imports this process is running, by job payload's ledger id.
        self.import_progress: dict[str, ImportReport] = {}
        self.handlers: dict[str, Handler] = {
            "create_lead": self._create_lead,
            "update_lead": self._update_lead,
            "update_ticket": self._update_ticket,
            "create_ticket": self._create_ticket,
            "update_customer": self._update_customer,
            "award_points": self._award_points,
            "convert_lead": self._convert_lead,
            "import_leads": self._import_leads,
        }

    # -- the mutations: validate, then describe the write ------------------------------------

    async def create_lead(
        self, principal: Principal, data: dict[str, Any], key: str | None
    ) -> Outcome:
        custom = data.pop("custom", None)

        def validate() -> dict[str, Any]:
            return v.validate_new_lead(data, self._region(principal, data))

        return await self._create(
            principal, "createLead", self.leads.name, "lead", validate, key, custom=custom
        )

    async def update_lead(
        self,
        principal: Principal,
        lead_id: str,
        data: dict[str, Any],
        key: str | None,
        brand: str | None = None,
        checked: bool = True,
    ) -> Outcome:
        """``brand``: the lead's, for reading a phone number without its +country code."""

        custom = data.pop("custom", None)

        def validate() -> dict[str, Any]:
            return v.validate_lead_update(data, self.phone_region(brand))

        return await self._update(
            principal,
            "updateLead",
            self.leads.name,
            "lead",
            lead_id,
            validate,
            key,
            checked,
            custom=custom,
        )

    async def update_ticket(
        self,
        principal: Principal,
        ticket_id: str,
        data: dict[str, Any],
        key: str | None,
        brand: str | None = None,
        checked: bool = True,
    ) -> Outcome:
        """``brand`` is taken as the other updates take it; a ticket holds no phone number."""
        assert self.tickets is not None

        custom = data.pop("custom", None)

        def validate() -> dict[str, Any]:
            return v.validate_ticket_update(data)

        return await self._update(
            principal,
            "updateTicket",
            self.tickets.name,
            "ticket",
            ticket_id,
            validate,
            key,
            checked,
            custom=custom,
        )

    async def create_ticket(
        self, principal: Principal, data: dict[str, Any], key: str | None
    ) -> Outcome:
        assert self.tickets is not None

        custom = data.pop("custom", None)

        def validate() -> dict[str, Any]:
            # A key of its own in Zendesk: a create whose answer was lost is found by it.
            return {**v.validate_new_ticket(data), "external_id": f"crmgraph-{uuid.uuid4()}"}

        return await self._create(
            principal, "createTicket", self.tickets.name, "ticket", validate, key, custom=custom
        )

    async def update_customer(
        self,
        principal: Principal,
        contact_id: str,
        data: dict[str, Any],
        key: str | None,
        brand: str | None = None,
        checked: bool = True,
    ) -> Outcome:
        """``brand``: the customer's, for reading a phone number without its +country code."""
        assert self.customers is not None

        custom = data.pop("custom", None)

        def validate() -> dict[str, Any]:
            return v.validate_customer_update(data, self.phone_region(brand))

        return await self._update(
            principal,
            "updateCustomer",
            self.customers.name,
            "customer",
            contact_id,
            validate,
            key,
            checked,
            custom=custom,
        )

    async def _create(
        self,
        principal: Principal,
        mutation: str,
        source: str,
        entity: str,
        validate: Callable[[], dict[str, Any]],
        key: str | None,
        custom: Any = None,
    ) -> Outcome:
        """A new record: validated, of a brand the caller may write, ordered by its key."""
        try:
            values = self._validated(entity, validate, custom)
        except Invalid as invalid:
            return Outcome(user_errors=_errors(invalid))
        refusal = self._brand(principal, values)
        if refusal is not None:
            return Outcome(user_errors=[refusal])
        order = f"{entity}:new:{key or uuid.uuid4().hex}"
        write = Write(mutation, source, entity, order, f"create_{entity}", values)
        return await self.run(principal, write, key)

    async def _update(
        self,
        principal: Principal,
        mutation: str,
        source: str,
        entity: str,
        native: str,
        validate: Callable[[], dict[str, Any]],
        key: str | None,
        checked: bool = True,
        custom: Any = None,
    ) -> Outcome:
        """A change to one record: validated, then ordered after earlier writes to it.
        ``checked``: the caller was shown the record may be written (it exists, of a brand
        they see); otherwise (its CRM could not say) that is checked when it is applied."""
        try:
            values = self._validated(entity, validate, custom)
        except Invalid as invalid:
            return Outcome(user_errors=_errors(invalid))
        payload: dict[str, Any] = {"id": native, "values": values}
        if not checked:
            payload["scope"] = _scope(principal)
        write = Write(
            mutation,
            source,
            entity,
            f"{entity}:{native}",
            f"update_{entity}",
            payload,
            record_id=f"{source}:{native}",
        )
        return await self.run(principal, write, key)

    def _validated(
        self, entity: str, validate: Callable[[], dict[str, Any]], custom: Any
    ) -> dict[str, Any]:
        """The built-in fields (``validate``) and the custom ones (``values["custom"]``: the
        CRM's path → value), every problem of both at once. A change of custom fields alone
        needs no other field."""
        errors: list[FieldError] = []
        values: dict[str, Any] = {}
        try:
            values = validate()
        except Invalid as invalid:
            only_custom = custom and all(
                e.code == v.REQUIRED and len(e.field) == 1 for e in invalid.errors
            )
            if not only_custom:
                errors += invalid.errors
        if custom:
            try:
                values["custom"] = v.validate_custom(custom, self.custom.get(entity, {}))
            except Invalid as invalid:
                errors += invalid.errors
        if errors:
            raise Invalid(errors)
        return values

    async def award_points(
        self,
        principal: Principal,
        brand: str | None,
        player_id: str,
        data: dict[str, Any],
        key: str | None,
    ) -> Outcome:
        """``brand``: the player's; None when the player could not be looked up (its CRM is
        down): the worker finds it among the brands the caller sees when it applies it."""
        assert self.players is not None
        try:
            values = v.validate_award(data)
        except Invalid as invalid:
            return Outcome(user_errors=_errors(invalid))
        # The service applies a key once: a queued retry can never award twice.
        upstream_key = (
            f"crmgraph-{uuid.uuid5(uuid.NAMESPACE_URL, f'{principal.subject}|{key}')}"
            if key
            else f"crmgraph-{uuid.uuid4()}"
        )
        write = Write(
            "awardPoints",
            self.players.name,
            "player",
            f"player:{brand or '*'}:{player_id}",
            "award_points",
            {
                "brand": brand,
                "player_id": player_id,
                "key": upstream_key,
                **values,
                **({} if brand else {"scope": _scope(principal)}),
            },
            record_id=player_id,
        )
        return await self.run(principal, write, key)

    async def convert_lead_later(
        self, principal: Principal, lead_id: str, key: str | None
    ) -> Outcome:
        """A conversion of a lead Salesforce could not show now: queued, the lead read (and
        checked as :meth:`convert_lead` checks it) when the worker applies it."""
        write = Write(
            "convertLead",
            self.leads.name,
            "lead",
            f"lead:{lead_id}",
            "convert_lead",
            {"id": lead_id, "contact": None, "scope": _scope(principal)},
        )
        return await self.run(principal, write, key)

    async def convert_lead(self, principal: Principal, lead: Lead, key: str | None) -> Outcome:
        """The lead becomes a customer: a HubSpot contact with its details (found by email if
        HubSpot has one already), then the Salesforce lead marked converted. Salesforce has no
        REST conversion (``convertLead`` is SOAP/Apex, and ``IsConverted`` is read-only), so
        the lead's Status says so; the two stay linked by the email."""
        assert self.customers is not None
        errors = []
        if lead.status is not None and lead.status.name == "CONVERTED":
            errors.append(UserError(["id"], "ALREADY_CONVERTED", "the lead is converted already"))
        if not lead.email:
            errors.append(
                UserError(["id"], "REQUIRED", "a lead needs an email to become a customer")
            )
        if errors:
            return Outcome(user_errors=errors)
        write = Write(
            "convertLead",
            self.leads.name,
            "lead",
            f"lead:{lead.id.native}",
            "convert_lead",
            {"id": lead.id.native, "contact": _contact_of(lead)},
        )
        return await self.run(principal, write, key)

    async def import_leads(
        self, principal: Principal, rows: list[dict[str, Any]], key: str | None
    ) -> tuple[Outcome, list[Rejection]]:
        """Many new leads as one job: every row validated now (a bad row is rejected with its
        index and reasons, the others go on), the valid ones created by the outbox worker in
        Salesforce Collections of 200, resumably (see :mod:`app.writes.importer`)."""
        valid: list[tuple[int, dict[str, Any]]] = []
        rejected: list[Rejection] = []
        for index, data in enumerate(rows):
            try:
                values = v.validate_new_lead(data, self._region(principal, data))
            except Invalid as invalid:
                rejected.append(Rejection(index, reasons(invalid)))
                continue
            refusal = self._brand(principal, values)
            if refusal is not None:
                rejected.append(Rejection(index, [Reason("brand", refusal.code, refusal.message)]))
                continue
            valid.append((index, values))
        if not valid:
            return Outcome(), rejected
        batch = uuid.uuid4().hex
        write = Write(
            "importLeads",
            self.leads.name,
            "lead",
            f"lead:import:{key or batch}",
            "import_leads",
            {"ledger": batch, "rows": valid},
            queue=True,
        )
        return await self.run(principal, write, key), rejected

    # -- one path for every write -------------------------------------------------------------

    async def run(self, principal: Principal, write: Write, key: str | None) -> Outcome:
        """Idempotency, then the write stored in the outbox *before* it is sent (claimed by
        this request, bound to its key), tried at once, and its job marked with the outcome.
        A process killed mid-write leaves the job for the worker (after a restart, or when its
        lease runs out), so a key never stays unresolved and no write is lost."""
        scoped = f"{principal.subject}|{write.mutation}|{write.record_key}|{key}" if key else None
        if scoped is not None:
            earlier = await self.keys.claim(scoped)
            if earlier == IN_PROGRESS:
                message = "a request with this idempotencyKey is still being applied; retry soon"
                return Outcome(user_errors=[UserError(["idempotencyKey"], "IN_PROGRESS", message)])
            if isinstance(earlier, dict):
                return await self._answered(Outcome.from_json(earlier))
        outcome = await self._apply_or_queue(write, scoped)
        if scoped is not None:
            await self.keys.settle(scoped, outcome.as_json())
        audit.info(
            "mutation",
            extra={
                "event": f"mutation.{write.mutation}",
                "subject": principal.subject,
                "status": outcome.status or "REFUSED",
                "record": outcome.record_id,
                "job": outcome.job_id,
            },
        )
        return outcome

    async def _answered(self, earlier: Outcome) -> Outcome:
        """A key's first outcome, brought up to date: a write that was queued (or cut off
        by a restart) answers APPLIED with its record once the worker has applied it."""
        if earlier.status != "QUEUED" or earlier.job_id is None:
            return earlier
        try:
            job = await self.outbox.get(earlier.job_id)
        except OutboxError:  # the outbox's Redis is away: the first answer still holds
            return earlier
        if job is None or job.state != APPLIED:
            return earlier
        record_id = (job.result or {}).get("record_id", earlier.record_id)
        return Outcome("APPLIED", record_id, earlier.job_id)

    async def _apply_or_queue(self, write: Write, scoped: str | None) -> Outcome:
        started = time.time()
        stored = write.payload
        if write.operation in ("create_lead", "create_ticket"):
            # If this process dies or the answer is lost, the worker looks before creating
            # again, and waits while the first request may still be under way.
            stored = {**stored, "attempted_at": started, "settled_at": started + self.settle}
        job = await self._keep(write, stored, scoped)
        if write.queue:  # long work: the worker does it
            return Outcome(status="QUEUED", job_id=job.id, record_id=write.record_id)
        try:
            result = await self._inline(job.id, write)
        except UpstreamRejected as rejected:
            await self._settle_job(job.id, rejected.message, rejected=True)
            return _rejected(rejected)
        except UpstreamError as exc:
            # The CRM cannot take it now: the worker applies it later; answer at once.
            answered = exc.status is not None or not _maybe_applied(exc)
            settled = {k: v for k, v in stored.items() if k != "settled_at"}
            await self._settle_job(job.id, str(exc), payload=settled if answered else None)
            return Outcome(status="QUEUED", job_id=job.id, record_id=write.record_id)
        except BaseException:
            # Cut off (the client went away): the write may be out; the worker finishes it.
            await asyncio.shield(self._settle_job(job.id, "interrupted"))
            raise
        await self.outbox.applied(job.id, result)
        return Outcome(status="APPLIED", record_id=result.get("record_id"), job_id=None)

    async def _keep(self, write: Write, stored: dict[str, Any], scoped: str | None) -> Job:
        """The write kept in the outbox, and its key (claimed by this request) bound to the
        job from then on, whatever happens to this request: the worker applies the job, so
        a resend answers it, never a second write. The key is released only when nothing was
        kept (the outbox could not take it, or the request was cut off before)."""
        try:
            job = await self._enqueue(write, stored, applying=not write.queue)
        except BaseException:
            if scoped is not None:
                await asyncio.shield(self.keys.settle(scoped, None))
            raise
        if scoped is not None:
            queued = Outcome(status="QUEUED", job_id=job.id, record_id=write.record_id)
            await asyncio.shield(self.keys.settle(scoped, queued.as_json()))
        return job

    async def _enqueue(self, write: Write, stored: dict[str, Any], *, applying: bool) -> Job:
        """The write kept in the outbox before anything is sent, or :class:`WritesUnavailable`
        when the outbox cannot take it (said once per outage in the log)."""
        try:
            job = await self.outbox.enqueue(
                write.source,
                write.entity,
                write.record_key,
                write.operation,
                stored,
                applying=applying,
            )
        except (OutboxError, sqlite3.Error) as exc:
            self._outbox_down.failed(exc, 0.0, expected=isinstance(exc, OutboxError))
            raise WritesUnavailable() from exc
        self._outbox_down.worked()
        return job

    async def _inline(self, job_id: str, write: Write) -> dict[str, Any]:
        """The write applied by this request, its job's lease (Redis) renewed meanwhile."""
        lease = self.outbox.lease_seconds
        if lease is None:
            return await self.handlers[write.operation](write.payload)

        async def renew() -> None:
            while True:
                await asyncio.sleep(lease / 3)
                with contextlib.suppress(Exception):
                    await self.outbox.keepalive([job_id])

        renewing = asyncio.create_task(renew())
        try:
            return await self.handlers[write.operation](write.payload)
        finally:
            renewing.cancel()

    async def _settle_job(
        self,
        job_id: str,
        error: str,
        rejected: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """A job this request could not apply: queued for the worker, or (refused by the CRM)
        dropped, with the reason, so it never holds up its record."""
        try:
            if rejected:
                await self.outbox.retry_later(job_id, error, 0, 1)
                await self.outbox.drop(job_id)
            else:
                # Never parked for this first try: the worker counts it in its attempts.
                await self.outbox.retry_later(job_id, error, 0, 2, payload)
        except OutboxError:  # recovery (a restart, its lease running out) queues it instead
            log.exception("outbox job %s could not be settled", job_id)

    # -- the handlers: what a write does upstream, now or from the outbox ----------------------

    async def _create_lead(self, payload: dict[str, Any]) -> dict[str, Any]:
        values = dict(payload)
        attempted = values.pop("attempted_at", None)
        settled = values.pop("settled_at", None)
        lead_id = None
        if attempted is not None and values.get("email"):
            found = await self.leads.leads_by_email([values["email"]], ["email", "created_at"])
            earlier = created_since(found.get(values["email"], []), attempted)
            lead_id = earlier.id.native if earlier is not None else None
            if lead_id is None and settled is not None and time.time() < settled:
                raise WriteInFlight(self.leads.name, settled - time.time())
        if lead_id is None:
            lead_id = await self.leads.create_lead(values)
        await self._forget_answers("lead")
        return {"record_id": f"{self.leads.name}:{lead_id}"}

    async def _in_scope(self, entity: str, payload: dict[str, Any]) -> None:
        """An update queued unchecked (its CRM was down): the record must exist, of a brand
        the caller sees, or the write is refused as a read would be (NOT_FOUND)."""
        if "scope" not in payload:
            return
        native, scope = payload["id"], payload["scope"]
        found: dict[str, Any]
        if entity == "lead":
            found = await self.leads.leads_by_id([native], FIELDS["lead"])
            source = self.leads.name
        elif entity == "ticket":
            assert self.tickets is not None
            found = await self.tickets.tickets_by_id([native], FIELDS["ticket"])
            source = self.tickets.name
        else:
            assert self.customers is not None
            found = await self.customers.customers_by_id([native], FIELDS["customer"])
            source = self.customers.name
        record = found.get(native)
        if record is None or not _within(scope, record.brand):
            raise _not_found(source, entity, native)

    async def _update_lead(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self._in_scope("lead", payload)
        lead_id = payload["id"]
        await self.leads.update_lead(lead_id, payload["values"])
        await self._forget("lead", self.leads.name, lead_id)
        return {"record_id": f"{self.leads.name}:{lead_id}"}

    async def _update_ticket(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.tickets is not None
        await self._in_scope("ticket", payload)
        ticket_id = payload["id"]
        await self.tickets.update_ticket(ticket_id, payload["values"])
        await self._forget("ticket", self.tickets.name, ticket_id)
        return {"record_id": f"{self.tickets.name}:{ticket_id}"}

    async def _create_ticket(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.tickets is not None
        values = dict(payload)
        attempted = values.pop("attempted_at", None)
        settled = values.pop("settled_at", None)
        ticket_id = None
        if attempted is not None and values.get("external_id"):
            ticket_id = await self.tickets.ticket_id_by_external_id(values["external_id"])
            if ticket_id is None and settled is not None and time.time() < settled:
                raise WriteInFlight(self.tickets.name, settled - time.time())
        if ticket_id is None:
            ticket_id = await self.tickets.create_ticket(values)
        await self._forget_answers("ticket")
        return {"record_id": f"{self.tickets.name}:{ticket_id}"}

    async def _update_customer(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.customers is not None
        await self._in_scope("customer", payload)
        contact_id = payload["id"]
        await self.customers.update_contact(contact_id, payload["values"])
        await self._forget("customer", self.customers.name, contact_id)
        return {"record_id": f"{self.customers.name}:{contact_id}"}

    async def _award_points(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.players is not None
        brand, player_id = payload["brand"], payload["player_id"]
        if brand is None:  # queued while the player could not be looked up
            brand = await self._player_brand(player_id, payload.get("scope"))
        await self.players.award_points(
            brand, player_id, payload["delta"], payload["reason"], payload["key"]
        )
        await self._forget("player", f"{self.players.name}@{brand}", player_id)
        return {"record_id": player_id}

    async def _player_brand(self, player_id: str, scope: list[str] | None) -> str:
        assert self.players is not None
        for brand in self.players.brands:
            if _within(scope, brand):
                found = await self.players.players_by_id(brand, [player_id], FIELDS["player"])
                if player_id in found:
                    return brand
        raise _not_found(self.players.name, "player", player_id)

    async def _lead_contact(self, lead_id: str, scope: list[str] | None) -> dict[str, Any]:
        """The contact details of a lead queued for conversion unread, checked as
        ``convert_lead`` checks them."""
        lead = (await self.leads.leads_by_id([lead_id], FIELDS["lead"])).get(lead_id)
        if lead is None or not _within(scope, lead.brand):
            raise _not_found(self.leads.name, "lead", lead_id)
        if lead.status is not None and lead.status.name == "CONVERTED":
            raise UpstreamRejected(self.leads.name, "the lead is converted already")
        if not lead.email:
            raise UpstreamRejected(self.leads.name, "a lead needs an email to become a customer")
        return _contact_of(lead)

    async def _convert_lead(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.customers is not None
        given = payload["contact"]
        if given is None:
            given = await self._lead_contact(payload["id"], payload.get("scope"))
        contact = {**given, "lifecycle_stage": "customer"}
        contact_id = await self.customers.create_contact(contact)
        await self.leads.update_lead(payload["id"], {"status": "CONVERTED"})
        await self._forget("lead", self.leads.name, payload["id"])
        await self._forget_answers("customer")
        return {"record_id": f"{self.customers.name}:{contact_id}"}

    async def _import_leads(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Run (or resume: the ledger knows what was created) an import job's rows."""
        ledger_id = payload["ledger"]
        report = self.import_progress[ledger_id] = ImportReport()

        def progress(now: ImportReport) -> None:
            self.import_progress[ledger_id] = now

        try:
            report = await import_leads(
                [(index, values) for index, values in payload["rows"]],
                self.leads,
                import_ledger(self.outbox, ledger_id),  # shared when the outbox is
                phone_region=self.phone_region,
                on_progress=progress,
            )
        finally:
            self.import_progress.pop(ledger_id, None)
        await self._forget_answers("lead")
        if report.stopped is not None:  # the worker tries again later; the ledger resumes it
            raise ImportInterrupted(self.leads.name, report.stopped)
        return {"import": report.as_json()}

    async def forget_ticket(self, ticket_id: str) -> None:
        """Read your writes for a ticket changed outside a handler."""
        if self.tickets is not None:
            await self._forget("ticket", self.tickets.name, ticket_id)

    async def _forget(self, entity: str, source: str, native: str) -> None:
        """Read your writes: the record's cached groups, and the answers it may move in."""
        if self.cache is not None:
            await self.cache.invalidate(entity, source, native)
        await self._forget_answers(entity)

    async def _forget_answers(self, entity: str) -> None:
        """Every cached relation and list answer a record of ``entity`` can be part of."""
        kinds = ENTITIES[entity].answers
        if self.cache is not None and kinds:
            await self.cache.forget_answers(*kinds)

    def _region(self, principal: Principal, data: dict[str, Any]) -> str | None:
        """The phone region of a new record: its brand's, the brand ``_brand`` will give it
        (the caller's only one) when it names none, else the default."""
        brand = v.given_brand(data)
        if brand is None and principal.brands is not None and len(principal.brands) == 1:
            brand = next(iter(principal.brands))
        return self.phone_region(brand)

    def _brand(self, principal: Principal, values: dict[str, Any]) -> UserError | None:
        brand = values.get("brand")
        unknown = unknown_brand(brand, self.brands)
        if unknown is not None:
            return UserError(["input", "brand"], UNKNOWN_BRAND, unknown)
        if brand is None and principal.brands is not None and len(principal.brands) == 1:
            values["brand"] = next(iter(principal.brands))
            return None
        if brand is not None and not principal.sees_brand(brand):
            return UserError(
                ["input", "brand"], "FORBIDDEN_BRAND", "you may not write to that brand"
            )
        return None


__all__ = ["FieldError", "Outcome", "UserError", "Write", "WriteService"]
