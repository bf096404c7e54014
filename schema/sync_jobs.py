"""Whose sync job is it: a caller sees the jobs of its own brands only, as it sees records.

A job does not store its brand, so it is read from what the job holds: the new record's
``brand`` (creates, ``awardPoints``, each row of an import), else the record it changes, looked
up as the caller may see it (updates, ``convertLead``). A job of another brand, or whose brand
cannot be told, answers as an unknown id does, to every caller but those of every brand.
"""

from __future__ import annotations

from typing import Any

from app.writes.outbox import Job
from schema.common import lookup
from schema.context import Info


def _named_brands(job: Job) -> set[str] | None:
    """The brands the job's payload names, or None when it names none (an update)."""
    payload = job.payload
    if job.operation == "import_leads":
        rows: list[Any] = payload.get("rows") or []
        return {str(values.get("brand")) for _, values in rows}
    brand = payload.get("brand")
    return {brand} if isinstance(brand, str) else None


async def visible(info: Info, job: Job) -> bool:
    """Whether the caller may see ``job``."""
    principal = info.context.principal
    if principal.brands is None:
        return True
    brands = _named_brands(job)
    if brands is not None:
        return bool(brands) and all(principal.sees_brand(b) for b in brands)
    native = job.payload.get("id")
    if job.entity not in ("customer", "lead", "ticket") or not isinstance(native, str):
        return False
    # The caller's brand-scoped loaders answer None for another brand's record.
    return await lookup(info, job.entity, f"{job.source}:{native}") is not None
