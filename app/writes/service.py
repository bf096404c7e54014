"""Writes: validated in the domain before any upstream call, applied at once when the CRM
answers, queued durably when it cannot, once per idempotency key.

Only lead creation is wired so far (issue 7 is in progress).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from app.auth.principal import Principal
from app.cache.records import FieldCache
from app.connectors.errors import UpstreamError, UpstreamRejected
from app.connectors.salesforce import SalesforceClient
from app.connectors.zendesk import ZendeskClient
from app.domain.validation import FieldError, Invalid, validate_new_lead, validate_ticket_update
from app.writes.idempotency import IN_PROGRESS, IdempotencyStore
from app.writes.outbox import Outbox

audit = logging.getLogger("crmgraph.audit")


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


def _rejected(rejected: UpstreamRejected) -> Outcome:
    """The CRM's own refusal, as userErrors pointing at the caller's input where it can."""
    errors = [
        UserError(["input", *fields] if fields else None, code, message)
        for fields, code, message in rejected.problems
    ]
    return Outcome(user_errors=errors or [UserError(None, "REJECTED", rejected.message)])


def _errors(invalid: Invalid) -> list[UserError]:
    return [UserError(list(e.field), e.code, e.message) for e in invalid.errors]


class WriteService:
    def __init__(
        self,
        leads: SalesforceClient,
        outbox: Outbox,
        keys: IdempotencyStore,
        cache: FieldCache | None,
        default_phone_region: str | None,
        tickets: ZendeskClient | None = None,
    ) -> None:
        self.leads = leads
        self.tickets = tickets
        self.outbox = outbox
        self.keys = keys
        self.cache = cache
        self.region = default_phone_region

    async def create_lead(
        self, principal: Principal, data: dict[str, Any], key: str | None
    ) -> Outcome:
        try:
            values = validate_new_lead(data, self.region)
        except Invalid as invalid:
            return Outcome(user_errors=_errors(invalid))
        brand_error = self._brand(principal, values)
        if brand_error is not None:
            return Outcome(user_errors=[brand_error])
        scoped = f"{principal.subject}|createLead|{key}" if key else None
        if scoped is not None:
            earlier = await self.keys.claim(scoped)
            if earlier == IN_PROGRESS:
                message = "a request with this idempotencyKey is still being applied; retry soon"
                return Outcome(user_errors=[UserError(["idempotencyKey"], "IN_PROGRESS", message)])
            if isinstance(earlier, dict):
                return Outcome.from_json(earlier)
        try:
            outcome = await self._apply_or_queue(values, key)
        except BaseException:
            if scoped is not None:
                await self.keys.settle(scoped, None)
            raise
        if scoped is not None:
            await self.keys.settle(scoped, outcome.as_json())
        audit.info(
            "mutation",
            extra={
                "event": "mutation.createLead",
                "subject": principal.subject,
                "status": outcome.status or "REFUSED",
                "record": outcome.record_id,
                "job": outcome.job_id,
            },
        )
        return outcome

    async def update_ticket(
        self, principal: Principal, ticket_id: str, data: dict[str, Any], key: str | None
    ) -> Outcome:
        """Change a ticket the caller may see (the resolver checked it); only the fields
        given are sent. Its cached groups and the ticket lists are forgotten once applied."""
        assert self.tickets is not None
        try:
            values = validate_ticket_update(data)
        except Invalid as invalid:
            return Outcome(user_errors=_errors(invalid))
        tickets = self.tickets
        scoped = f"{principal.subject}|updateTicket|{ticket_id}|{key}" if key else None
        if scoped is not None:
            earlier = await self.keys.claim(scoped)
            if earlier == IN_PROGRESS:
                message = "a request with this idempotencyKey is still being applied; retry soon"
                return Outcome(user_errors=[UserError(["idempotencyKey"], "IN_PROGRESS", message)])
            if isinstance(earlier, dict):
                return Outcome.from_json(earlier)
        record = f"{tickets.name}:{ticket_id}"
        try:
            await tickets.update_ticket(ticket_id, values)
        except UpstreamRejected as rejected:
            outcome = _rejected(rejected)
        except UpstreamError:
            job = await self.outbox.enqueue(
                tickets.name,
                "ticket",
                f"ticket:{ticket_id}",
                "update_ticket",
                {"ticket_id": ticket_id, "values": values},
            )
            outcome = Outcome(status="QUEUED", job_id=job.id, record_id=record)
        except BaseException:
            if scoped is not None:
                await self.keys.settle(scoped, None)
            raise
        else:
            await self.forget_ticket(ticket_id)
            outcome = Outcome(status="APPLIED", record_id=record)
        if scoped is not None:
            await self.keys.settle(scoped, outcome.as_json())
        audit.info(
            "mutation",
            extra={
                "event": "mutation.updateTicket",
                "subject": principal.subject,
                "status": outcome.status or "REFUSED",
                "record": record,
                "job": outcome.job_id,
            },
        )
        return outcome

    async def forget_ticket(self, ticket_id: str) -> None:
        """Read your writes: the ticket's cached groups, and the lists it may have moved in."""
        if self.cache is not None and self.tickets is not None:
            await self.cache.invalidate("ticket", self.tickets.name, ticket_id)
            await self.cache.forget_answers("tickets", "list_ticket")

    async def _apply_or_queue(self, values: dict[str, Any], key: str | None) -> Outcome:
        try:
            lead_id = await self.leads.create_lead(values)
        except UpstreamRejected as rejected:
            return _rejected(rejected)
        except UpstreamError:
            # The CRM cannot take it now: keep it durably and answer at once.
            record_key = f"lead:new:{key}" if key else "lead:new"
            job = await self.outbox.enqueue(
                self.leads.name, "lead", record_key, "create_lead", values
            )
            return Outcome(status="QUEUED", job_id=job.id)
        return Outcome(status="APPLIED", record_id=f"{self.leads.name}:{lead_id}")

    def _brand(self, principal: Principal, values: dict[str, Any]) -> UserError | None:
        brand = values.get("brand")
        if brand is None and principal.brands is not None and len(principal.brands) == 1:
            values["brand"] = next(iter(principal.brands))
            return None
        if brand is not None and not principal.sees_brand(brand):
            return UserError(
                ["input", "brand"], "FORBIDDEN_BRAND", "you may not write to that brand"
            )
        return None


__all__ = ["FieldError", "Outcome", "UserError", "WriteService"]
