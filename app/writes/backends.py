"""The outbox the settings name (``writes.backend``), and the import ledgers that go with it:
a SQLite file and ledger files on local disk, or Redis for several instances."""

from __future__ import annotations

from app.config import Settings
from app.writes.importer import FileLedger, Ledger, RedisLedger
from app.writes.outbox import Outbox, OutboxError
from app.writes.redis_outbox import RedisOutbox

AnyOutbox = Outbox | RedisOutbox


def open_outbox(settings: Settings) -> AnyOutbox:
    """``writes.outbox_path`` (SQLite), or with ``writes.backend: redis`` the outbox in the
    Redis of ``writes.redis_url`` (else the top-level ``redis_url``)."""
    writes = settings.writes
    if writes.backend == "sqlite":
        return Outbox(writes.outbox_path)
    url = writes.redis_url or settings.redis_url
    if url is None:  # `config check` refuses this; settings built in code may still say it
        raise OutboxError(
            "writes.backend is redis, but neither writes.redis_url nor redis_url is set"
        )
    return RedisOutbox.from_url(url, writes.redis_prefix, lease_seconds=writes.lease_seconds)


def import_ledger(outbox: AnyOutbox, name: str) -> Ledger:
    """The ledger of import job ``name``: beside the outbox, where any instance that may
    resume the job can read it."""
    if isinstance(outbox, RedisOutbox):
        return RedisLedger(outbox.redis, f"{outbox.prefix}import:{name}")
    return FileLedger(outbox.path.with_name(f"{outbox.path.name}.imports") / f"{name}.ledger")
