"""``crmgraph outbox list|retry|drop``: the queue of writes a CRM could not take, by hand.

Each command reads the deployment's config and works on the outbox it names directly: the
SQLite file ``writes.outbox_path``, or with ``writes.backend: redis`` the Redis keys under
``writes.redis_prefix``. A running server's worker sees the change on its next pass (every
change is atomic, so this is safe while servers run). Payloads are never printed: they hold
personal data (names, emails, phone numbers). Only ids, operations, states, counts, times and
the CRM's error are shown.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from app.command import CommandError, one_line, reporting, settings_of, when
from app.config import Settings
from app.writes.backends import AnyOutbox, open_outbox
from app.writes.outbox import FAILED, STATES, Job, OutboxError

_T = TypeVar("_T")

#: ``last_error`` is cut to this many characters in the table.
ERROR_WIDTH = 60
DEFAULT_LIMIT = 100


def _checked(config: Path) -> Settings:
    settings = settings_of(config)
    path = settings.writes.outbox_path
    if settings.writes.backend == "sqlite" and not path.exists():
        # Opening it would create an empty outbox somewhere the server does not look.
        raise CommandError(
            f"{config}: the outbox {path} does not exist (writes.outbox_path; no write has "
            "been queued yet, or the path points elsewhere than the server's)"
        )
    return settings


def _with_outbox(config: Path, work: Callable[[AnyOutbox], Awaitable[_T]]) -> _T:
    settings = _checked(config)

    async def run() -> _T:
        async with open_outbox(settings) as outbox:
            return await work(outbox)

    return asyncio.run(run())


def _record(job: Job) -> str:
    """The CRM record once the write is applied, else the key that orders the record's jobs."""
    record_id = (job.result or {}).get("record_id")
    return str(record_id) if record_id else job.record_key


def _next_attempt(job: Job) -> str:
    return when(job.next_attempt_at) if job.state == "queued" else "-"


def format_table(jobs: list[Job]) -> list[str]:
    header = ("ID", "OPERATION", "RECORD", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR")
    rows = [header] + [
        (
            job.id,
            job.operation,
            _record(job),
            job.state,
            str(job.attempts),
            _next_attempt(job),
            one_line(job.last_error, ERROR_WIDTH),
        )
        for job in jobs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_depth(depth: dict[str, int]) -> str:
    return "depth: " + ", ".join(f"{state} {depth.get(state, 0)}" for state in STATES)


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be a positive whole number")

    async def read(outbox: AnyOutbox) -> tuple[list[Job], dict[str, int]]:
        return await outbox.list(args.state, args.limit), await outbox.depth()

    jobs, depth = _with_outbox(args.config, read)
    if jobs:
        for line in format_table(jobs):
            print(line)
    else:
        print("no outbox jobs" + (f" in state {args.state}" if args.state else ""))
    print(format_depth(depth))
    return 0


def _retry(args: argparse.Namespace) -> int:
    job = _with_outbox(args.config, lambda outbox: outbox.retry(args.job_id))
    print(f"outbox job {job.id} ({job.operation}) is queued again; it is due now.")
    return 0


def _drop(args: argparse.Namespace) -> int:
    job = _with_outbox(args.config, lambda outbox: outbox.drop(args.job_id))
    print(
        f"outbox job {job.id} ({job.operation}) is dropped: it will not be applied "
        "(it stays on record as dropped)."
    )
    return 0


_reported = reporting("outbox", OutboxError)


def add_outbox_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``outbox list|retry|drop`` to a parser's sub-commands."""
    outbox = commands.add_parser("outbox", help="list, retry and drop queued CRM writes")
    actions = outbox.add_subparsers(dest="outbox_command", required=True)
    config_help = "the deployment's YAML config (names the outbox: writes.outbox_path or Redis)"

    listing = actions.add_parser(
        "list", help="queued writes and their states, with the depth per state (no payloads)"
    )
    listing.add_argument("--state", choices=STATES, help="only jobs in this state")
    listing.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"at most N jobs (default {DEFAULT_LIMIT})"
    )
    listing.add_argument("--config", type=Path, required=True, help=config_help)
    listing.set_defaults(handler=_reported(_list))

    retry = actions.add_parser("retry", help=f"send a {FAILED} job round again (attempts reset)")
    retry.add_argument("job_id", metavar="JOB_ID", help="the job's id, as `outbox list` shows")
    retry.add_argument("--config", type=Path, required=True, help=config_help)
    retry.set_defaults(handler=_reported(_retry))

    drop = actions.add_parser("drop", help="give up on a queued or failed job")
    drop.add_argument("job_id", metavar="JOB_ID", help="the job's id, as `outbox list` shows")
    drop.add_argument("--config", type=Path, required=True, help=config_help)
    drop.set_defaults(handler=_reported(_drop))
