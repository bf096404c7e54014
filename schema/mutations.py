"""Mutations: thin resolvers over the write service. Bad input is data (``userErrors``), not
an exception; a write the CRM cannot take now answers ``QUEUED`` with a ``syncJobId``. A record
to change must be one the caller can read (same brand scope): otherwise it is NOT_FOUND."""

from __future__ import annotations

import enum
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.cache.groups import FIELDS
from app.cache.records import FieldCache
from app.connectors.errors import UpstreamError, UpstreamUnavailable
from app.loaders import PlayerKey
from app.writes.importer import ImportReport, Rejection
from app.writes.outbox import Job
from app.writes.service import Outcome, WriteService
from schema.common import lookup, parse_id
from schema.context import Info
from schema.customers import CustomerType
from schema.errors import NotFound, UpstreamFieldError
from schema.leads import LeadType
from schema.players import PlayerStatsType
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


@strawberry.type
class WritePayload:
    status: WriteStatus | None
    sync_job_id: strawberry.ID | None
    user_errors: list[UserError]
    record_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, outcome: Outcome) -> Any:
        return cls(
            status=WriteStatus(outcome.status) if outcome.status else None,
            sync_job_id=strawberry.ID(outcome.job_id) if outcome.job_id else None,
            user_errors=[
                UserError(field=e.field, message=e.message, code=e.code)
                for e in outcome.user_errors
            ],
            record_id=outcome.record_id if outcome.status == "APPLIED" else None,
        )

    @classmethod
    def not_found(cls, what: str, node: object) -> Any:
        error = UserError(field=["id"], message=f"no {what} with id {node}", code="NOT_FOUND")
        return cls(status=None, sync_job_id=None, user_errors=[error], record_id=None)

    async def record(self, info: Info, entity: str) -> Any:
        """The written record as the caller reads it now (None until the write is applied).

        Read again from the CRM: the write made this request's own copy (the check before it)
        wrong, and its cache entries are gone. A record that cannot be read back is an error
        at this field, never a silent null."""
        if self.record_id is None:
            return None
        native = self.record_id.split(":", 1)[-1]
        key = PlayerKey(None, native) if entity == "player" else native
        _read_again(info, entity, self.record_id, native)
        loader = getattr(info.context.loaders, entity)
        loader.clear(key)
        found = await loader.load(key)
        if found is None:
            raise UpstreamFieldError(
                UpstreamUnavailable(
                    _source_of(info, entity, self.record_id),
                    f"the {entity} {self.record_id} was written but could not be read back",
                )
            )
        return found


def _source_of(info: Info, entity: str, record_id: str) -> str:
    if entity == "player":
        return str(info.context.loaders.sources.players.name)
    return record_id.split(":", 1)[0]


def _read_again(info: Info, entity: str, record_id: str, native: str) -> None:
    """Forget that this request fetched the record already (it did, to check it before the
    write), so the field cache reads it from the CRM instead of answering nothing."""
    loaders = info.context.loaders
    if loaders.cache is None:
        return
    if entity == "player":
        players = loaders.sources.players
        sources = [f"{players.name}@{brand}" for brand in players.brands]
    else:
        sources = [_source_of(info, entity, record_id)]
    groups = loaders.cache.groups.by_entity.get(entity, {})
    loaders.served.fetched.difference_update(
        FieldCache.record_key(entity, source, native, group)
        for source in sources
        for group in groups
    )


@strawberry.type
class LeadPayload(WritePayload):
    @strawberry.field(graphql_type=LeadType | None, description="The lead, once applied.")
    async def lead(self, info: Info) -> Any:
        return await self.record(info, "lead")


@strawberry.type
class TicketPayload(WritePayload):
    @strawberry.field(graphql_type=TicketType | None, description="The ticket, once applied.")
    async def ticket(self, info: Info) -> Any:
        return await self.record(info, "ticket")


@strawberry.type
class CustomerPayload(WritePayload):
    @strawberry.field(graphql_type=CustomerType | None, description="The customer, once applied.")
    async def customer(self, info: Info) -> Any:
        return await self.record(info, "customer")


@strawberry.type
class PlayerStatsPayload(WritePayload):
    @strawberry.field(graphql_type=PlayerStatsType | None, description="The player, once applied.")
    async def player_stats(self, info: Info) -> Any:
        return await self.record(info, "player")


@strawberry.input
class CreateLeadInput:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    lead_source: str | None = None
    brand: str | None = None
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )


@strawberry.input
class UpdateLeadInput:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    lead_source: str | None = None
    status: str | None = strawberry.field(
        default=None, description="NEW, WORKING, QUALIFIED or UNQUALIFIED (convert to CONVERT)."
    )
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )


@strawberry.input
class CreateTicketInput:
    subject: str | None = None
    description: str | None = None
    requester_email: str | None = None
    requester_name: str | None = None
    priority: str | None = strawberry.field(default=None, description="A TicketPriority name.")
    brand: str | None = None
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )


@strawberry.input
class UpdateTicketInput:
    subject: str | None = None
    status: str | None = strawberry.field(default=None, description="A TicketStatus name.")
    priority: str | None = strawberry.field(default=None, description="A TicketPriority name.")
    comment: str | None = strawberry.field(default=None, description="Added as a public comment.")
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )


@strawberry.input
class UpdateCustomerInput:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    lifecycle_stage: str | None = None
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )


@strawberry.input
class AwardPointsInput:
    delta: int | None = strawberry.field(default=None, description="Negative takes points back.")
    reason: str | None = None


@strawberry.type
class ImportLeadsPayload:
    status: WriteStatus | None = strawberry.field(
        description="QUEUED: the valid rows are a job (syncJobId); None: no row was valid."
    )
    sync_job_id: strawberry.ID | None
    accepted: int = strawberry.field(description="Rows valid and handed to the job.")
    rejected: int = strawberry.field(description="Rows refused now (see userErrors).")
    user_errors: list[UserError] = strawberry.field(
        description='One per problem; a row\'s field is ["leads", "<index>", "<field>"].'
    )


@strawberry.type
class ImportProgress:
    total: int = strawberry.field(description="Rows the job was given.")
    created: int
    skipped: int = strawberry.field(description="Rows an interrupted run had created already.")
    rejected: int = strawberry.field(description="Rows Salesforce refused (see userErrors).")
    user_errors: list[UserError]
    stopped: str | None = strawberry.field(description="Why the last run stopped early.")


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
    progress: ImportProgress | None = strawberry.field(
        description="A bulk import's rows so far (while it runs here) or in the end."
    )


def _row_errors(rejections: list[Rejection] | list[dict[str, Any]]) -> list[UserError]:
    """Importer rejections (``line`` = the row's index in ``leads``) as userErrors."""
    errors = []
    for rejection in rejections:
        row = asdict(rejection) if isinstance(rejection, Rejection) else rejection
        for reason in row["reasons"]:
            where = ["leads", str(row["line"]), *([reason["field"]] if reason["field"] else [])]
            errors.append(UserError(field=where, message=reason["message"], code=reason["code"]))
    return errors


def _progress(job: Job, running: dict[str, ImportReport]) -> ImportProgress | None:
    if job.operation != "import_leads":
        return None
    report = (job.result or {}).get("import")
    if report is None:
        now = running.get(job.payload["ledger"])
        report = now.as_json() if now is not None else None
    report = report or {}
    rejected = report.get("rejected", [])
    return ImportProgress(
        total=len(job.payload["rows"]),
        created=report.get("created", 0),
        skipped=report.get("skipped", 0),
        rejected=len(rejected),
        user_errors=_row_errors(rejected),
        stopped=report.get("stopped"),
    )


async def sync_job(info: Info, job_id: str) -> SyncJob:
    gateway = info.context.gateway
    job = await gateway.outbox.get(job_id) if gateway.outbox is not None else None
    if job is None:
        raise NotFound(f"no sync job {job_id}")
    running = gateway.writes.import_progress if gateway.writes is not None else {}
    return SyncJob(
        id=strawberry.ID(job.id),
        operation=job.operation,
        status=job.state.upper(),
        attempts=job.attempts,
        last_error=job.last_error,
        record_id=(job.result or {}).get("record_id"),
        created_at=datetime.fromtimestamp(job.created_at, tz=UTC),
        updated_at=datetime.fromtimestamp(job.updated_at, tz=UTC),
        progress=_progress(job, running),
    )


def _given(input: object) -> dict[str, Any]:
    return {k: v for k, v in vars(input).items() if v is not None}


def _writes(info: Info) -> WriteService:
    writes = info.context.gateway.writes
    assert writes is not None
    return writes


async def _update(
    info: Info,
    entity: str,
    id: strawberry.ID,
    input: object,
    key: str | None,
    payload: Any,
    method: str,
) -> Any:
    """``WriteService.<method>`` on a record the caller can read (otherwise NOT_FOUND, as for
    a read)."""
    try:
        record = await lookup(info, entity, str(id))
        checked = True
    except UpstreamError:  # its CRM cannot say now: checked when the write is applied
        record, checked = _UNKNOWN, False
    if record is None:
        return payload.not_found(entity, id)
    native = parse_id(str(id)).native
    getattr(info.context.loaders, entity).clear(native)  # answer the record as it is after
    write = getattr(_writes(info), method)
    brand = getattr(record, "brand", None)  # its phone numbers are read in its brand's region
    outcome: Outcome = await write(
        info.context.principal, native, _given(input), key, brand, checked=checked
    )
    return payload.of(outcome)


#: A record whose CRM could not be asked whether it exists.
_UNKNOWN = object()


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A new lead, validated first; QUEUED if the CRM is down.")
    async def create_lead(
        self, info: Info, input: CreateLeadInput, idempotency_key: str | None = None
    ) -> LeadPayload:
        outcome = await _writes(info).create_lead(
            info.context.principal, _given(input), idempotency_key
        )
        return LeadPayload.of(outcome)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Many new leads as one job (syncJobId): rows validated now, the valid ones "
        "created in Salesforce batches of 200 by the outbox worker, resumably."
    )
    async def import_leads(
        self, info: Info, leads: list[CreateLeadInput], idempotency_key: str | None = None
    ) -> ImportLeadsPayload:
        most = info.context.gateway.settings.writes.import_max_rows
        if not 1 <= len(leads) <= most:
            message = f"leads must hold 1 to {most} rows (use `crmgraph import leads` for files)"
            error = UserError(field=["leads"], message=message, code="INVALID_SIZE")
            return ImportLeadsPayload(
                status=None, sync_job_id=None, accepted=0, rejected=0, user_errors=[error]
            )
        outcome, rejected = await _writes(info).import_leads(
            info.context.principal, [_given(row) for row in leads], idempotency_key
        )
        payload = WritePayload.of(outcome)
        return ImportLeadsPayload(
            status=payload.status,
            sync_job_id=payload.sync_job_id,
            accepted=len(leads) - len(rejected) if outcome.status else 0,
            rejected=len(rejected),
            user_errors=payload.user_errors + _row_errors(rejected),
        )

    @strawberry.mutation(description="Change a lead: only the fields given are sent.")
    async def update_lead(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateLeadInput,
        idempotency_key: str | None = None,
    ) -> LeadPayload:
        return await _update(  # type: ignore[no-any-return]
            info, "lead", id, input, idempotency_key, LeadPayload, "update_lead"
        )

    @strawberry.mutation(
        description="The lead becomes a customer: a HubSpot contact (found by email if there "
        "is one), and the Salesforce lead marked converted."
    )
    async def convert_lead(
        self, info: Info, id: strawberry.ID, idempotency_key: str | None = None
    ) -> CustomerPayload:
        node = parse_id(str(id))
        leads = info.context.loaders.sources.leads
        # Every field of the lead goes to the new contact, whatever this mutation selects.
        found = {}
        if node.source == leads.name:
            try:
                found = await leads.leads_by_id([node.native], FIELDS["lead"])
            except UpstreamError:  # Salesforce is down: the lead is read when it is applied
                outcome = await _writes(info).convert_lead_later(
                    info.context.principal, node.native, idempotency_key
                )
                return CustomerPayload.of(outcome)  # type: ignore[no-any-return]
        lead = found.get(node.native)
        if lead is None or not info.context.principal.sees_brand(lead.brand):
            return CustomerPayload.not_found("lead", id)  # type: ignore[no-any-return]
        outcome = await _writes(info).convert_lead(info.context.principal, lead, idempotency_key)
        return CustomerPayload.of(outcome)  # type: ignore[no-any-return]

    @strawberry.mutation(description="A new ticket for a requester by email.")
    async def create_ticket(
        self, info: Info, input: CreateTicketInput, idempotency_key: str | None = None
    ) -> TicketPayload:
        outcome = await _writes(info).create_ticket(
            info.context.principal, _given(input), idempotency_key
        )
        return TicketPayload.of(outcome)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Change a ticket: only the fields given are sent.")
    async def update_ticket(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateTicketInput,
        idempotency_key: str | None = None,
    ) -> TicketPayload:
        return await _update(  # type: ignore[no-any-return]
            info, "ticket", id, input, idempotency_key, TicketPayload, "update_ticket"
        )

    @strawberry.mutation(description="Change a customer: only the fields given are sent.")
    async def update_customer(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateCustomerInput,
        idempotency_key: str | None = None,
    ) -> CustomerPayload:
        return await _update(  # type: ignore[no-any-return]
            info, "customer", id, input, idempotency_key, CustomerPayload, "update_customer"
        )

    @strawberry.mutation(description="Award (or take back) a player's points, once per key.")
    async def award_points(
        self,
        info: Info,
        player_id: strawberry.ID,
        input: AwardPointsInput,
        idempotency_key: str | None = None,
    ) -> PlayerStatsPayload:
        loaders = info.context.loaders
        principal = info.context.principal
        brand: str | None
        try:
            player = await loaders.player.load(PlayerKey(None, str(player_id)))
        except UpstreamError:  # the service is down: the worker finds the player's brand
            only = principal.brands is not None and len(principal.brands) == 1
            brand = next(iter(principal.brands or ())) if only else None
        else:
            if player is None or player.brand is None:
                return PlayerStatsPayload.not_found("player", player_id)  # type: ignore[no-any-return]
            brand = player.brand
        loaders.player.clear(PlayerKey(None, str(player_id)))
        outcome = await _writes(info).award_points(
            principal, brand, str(player_id), _given(input), idempotency_key
        )
        return PlayerStatsPayload.of(outcome)  # type: ignore[no-any-return]
