"""Mutations: thin resolvers over the write service. Bad input is data (``userErrors``), not
an exception; a write the CRM cannot take now answers ``QUEUED`` with a ``syncJobId``."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import strawberry

from app.writes.service import Outcome
from schema.common import parse_id
from schema.context import Info
from schema.errors import NotFound
from schema.leads import LeadType
from schema.tickets import TicketType


@strawberry.enum
class WriteStatus(enum.Enum):
    APPLIED = "APPLIED"
    QUEUED = "QUEUED"


@strawberry.type
class UserError:
    field: list[str] | None
    message: str
    code: str


@strawberry.input
class CreateLeadInput:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    lead_source: str | None = None
    brand: str | None = None


@strawberry.type
class CreateLeadPayload:
    status: WriteStatus | None
    sync_job_id: strawberry.ID | None
    user_errors: list[UserError]
    record_id: strawberry.Private[str | None]

    @strawberry.field(graphql_type=LeadType | None, description="The lead, once applied.")
    async def lead(self, info: Info) -> Any:
        if self.record_id is None:
            return None
        native = self.record_id.split(":", 1)[1]
        return await info.context.loaders.lead.load(native)


def payload(outcome: Outcome) -> CreateLeadPayload:
    return CreateLeadPayload(
        status=WriteStatus(outcome.status) if outcome.status else None,
        sync_job_id=strawberry.ID(outcome.job_id) if outcome.job_id else None,
        user_errors=[
            UserError(field=e.field, message=e.message, code=e.code) for e in outcome.user_errors
        ],
        record_id=outcome.record_id,
    )


@strawberry.input
class UpdateTicketInput:
    subject: str | None = None
    status: str | None = strawberry.field(default=None, description="A TicketStatus name.")
    priority: str | None = strawberry.field(default=None, description="A TicketPriority name.")
    comment: str | None = strawberry.field(default=None, description="Added as a public comment.")


@strawberry.type
class UpdateTicketPayload:
    status: WriteStatus | None
    sync_job_id: strawberry.ID | None
    user_errors: list[UserError]
    record_id: strawberry.Private[str | None]

    @strawberry.field(graphql_type=TicketType | None, description="The ticket, as it is now.")
    async def ticket(self, info: Info) -> Any:
        if self.record_id is None:
            return None
        return await info.context.loaders.ticket.load(self.record_id.split(":", 1)[1])


@strawberry.type
class SyncJob:
    id: strawberry.ID
    operation: str
    status: str = strawberry.field(description="QUEUED, APPLYING, APPLIED, FAILED or DROPPED")
    attempts: int
    last_error: str | None
    record_id: str | None
    created_at: datetime
    updated_at: datetime


async def sync_job(info: Info, job_id: str) -> SyncJob:
    outbox = info.context.gateway.outbox
    job = await outbox.get(job_id) if outbox is not None else None
    if job is None:
        raise NotFound(f"no sync job {job_id}")
    return SyncJob(
        id=strawberry.ID(job.id),
        operation=job.operation,
        status=job.state.upper(),
        attempts=job.attempts,
        last_error=job.last_error,
        record_id=(job.result or {}).get("record_id"),
        created_at=datetime.fromtimestamp(job.created_at, tz=UTC),
        updated_at=datetime.fromtimestamp(job.updated_at, tz=UTC),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A new lead, validated first; QUEUED if the CRM is down.")
    async def create_lead(
        self, info: Info, input: CreateLeadInput, idempotency_key: str | None = None
    ) -> CreateLeadPayload:
        writes = info.context.gateway.writes
        assert writes is not None
        data = {k: v for k, v in vars(input).items() if v is not None}
        outcome = await writes.create_lead(info.context.principal, data, idempotency_key)
        return payload(outcome)

    @strawberry.mutation(description="Change a ticket: only the fields given are sent.")
    async def update_ticket(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateTicketInput,
        idempotency_key: str | None = None,
    ) -> UpdateTicketPayload:
        writes = info.context.gateway.writes
        assert writes is not None
        node = parse_id(str(id))
        loaders = info.context.loaders
        # The ticket must exist and be of a brand the caller sees, as for a read.
        found = None
        if node.source == loaders.sources.tickets.name:
            found = await loaders.ticket.load(node.native)
        if found is None:
            error = UserError(field=["id"], message=f"no ticket with id {node}", code="NOT_FOUND")
            return UpdateTicketPayload(
                status=None, sync_job_id=None, user_errors=[error], record_id=None
            )
        loaders.ticket.clear(node.native)  # answer the ticket as it is after the write
        data = {k: v for k, v in vars(input).items() if v is not None}
        outcome = await writes.update_ticket(
            info.context.principal, node.native, data, idempotency_key
        )
        return UpdateTicketPayload(
            status=WriteStatus(outcome.status) if outcome.status else None,
            sync_job_id=strawberry.ID(outcome.job_id) if outcome.job_id else None,
            user_errors=[
                UserError(field=e.field, message=e.message, code=e.code)
                for e in outcome.user_errors
            ],
            record_id=outcome.record_id if outcome.status == "APPLIED" else None,
        )
