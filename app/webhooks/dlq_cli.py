"""``crmgraph dlq list|show|replay|purge``: the webhook events the worker gave up on.

Each command reads the deployment's config for the webhook store (the SQLite file, or the
Redis Stream when one is configured) and acts on it directly; a running server's worker picks
replayed events up on its next pass. ``list`` and ``show`` print no payload unless asked
(``show --payload``): webhook payloads hold personal data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from redis.exceptions import RedisError

from app.command import CommandError, one_line, reporting, settings_of, when
from app.webhooks.store import EventNotFound, EventStore, StoredEvent, open_store

_T = TypeVar("_T")
REASON_WIDTH = 70


def _with_store(config: Path, work: Callable[[EventStore], Awaitable[_T]]) -> _T:
    settings = settings_of(config)
    webhooks = settings.webhooks
    if not (webhooks.redis_url or settings.redis_url):
        path = webhooks.sqlite_path(settings.writes)
        if not path.exists():
            # Opening it would create an empty store somewhere the server does not look.
            raise CommandError(
                f"{config}: the webhook store {path} does not exist (webhooks.store_path; no "
                "event has been received yet, or the path points elsewhere than the server's)"
            )

    async def run() -> _T:
        store, redis = open_store(settings)
        try:
            return await work(store)
        except (RedisError, OSError) as exc:  # a line that says so, not a traceback
            raise CommandError(
                f"the webhook store's Redis failed: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            await store.close()
            if redis is not None:
                await redis.aclose()

    return asyncio.run(run())


def format_table(events: list[StoredEvent]) -> list[str]:
    header = ("ID", "SOURCE", "EVENT", "ATTEMPTS", "DEAD SINCE", "REASON")
    rows = [header] + [
        (
            e.id,
            e.kind,
            e.event_id,
            str(e.attempts),
            when(e.dead_at),
            one_line(e.last_error, REASON_WIDTH),
        )
        for e in events
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be a positive whole number")

    async def read(store: EventStore) -> tuple[list[StoredEvent], int, int]:
        return (
            await store.dead_letters(args.limit),
            await store.dead_letter_count(),
            await store.depth(),
        )

    events, dead, queued = _with_store(args.config, read)
    for line in format_table(events) if events else ["no dead letters"]:
        print(line)
    print(f"dead letters: {dead}; events waiting for the worker: {queued}")
    return 0


def _show(args: argparse.Namespace) -> int:
    event = _with_store(args.config, lambda store: store.dead_letter(args.id))
    print(f"id:          {event.id}")
    print(f"source:      {event.kind}")
    print(f"event:       {event.event_id}")
    print(f"received:    {when(event.received_at)}")
    print(f"dead since:  {when(event.dead_at)}")
    print(f"attempts:    {event.attempts}")
    print(f"reason:      {event.last_error or '-'}")
    if args.payload:
        print(json.dumps(event.payload, indent=2, ensure_ascii=False))
    else:
        fields = ", ".join(sorted(event.payload)) if isinstance(event.payload, dict) else "-"
        print(f"payload:     fields {fields} (--payload prints it; it may hold personal data)")
    return 0


def _replay(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        raise CommandError("name the dead letters to replay, or --all (not both)")
    replayed = _with_store(args.config, lambda store: store.replay(None if args.all else args.ids))
    print(f"{len(replayed)} dead letter(s) queued again for the worker: {' '.join(replayed)}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    if not args.yes:
        raise CommandError("purge forgets every dead letter for good; add --yes to do it")
    removed = _with_store(args.config, lambda store: store.purge())
    print(f"{removed} dead letter(s) purged")
    return 0


_reported = reporting("dlq", EventNotFound)


def add_dlq_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlq list|show|replay|purge`` to a parser's sub-commands."""
    dlq = commands.add_parser("dlq", help="webhook events the worker gave up on (dead letters)")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    config_help = "the deployment's YAML config (names the webhook store)"

    listing = actions.add_parser("list", help="dead letters with their reasons (no payloads)")
    listing.add_argument("--limit", type=int, default=100, help="at most N (default 100)")
    listing.add_argument("--config", type=Path, required=True, help=config_help)
    listing.set_defaults(handler=_reported(_list))

    show = actions.add_parser("show", help="one dead letter")
    show.add_argument("id", metavar="ID", help="its id, as `dlq list` shows")
    show.add_argument("--payload", action="store_true", help="print the event's body too")
    show.add_argument("--config", type=Path, required=True, help=config_help)
    show.set_defaults(handler=_reported(_show))

    replay = actions.add_parser("replay", help="queue dead letters again (attempts reset)")
    replay.add_argument("ids", metavar="ID", nargs="*", help="their ids, as `dlq list` shows")
    replay.add_argument("--all", action="store_true", help="every dead letter")
    replay.add_argument("--config", type=Path, required=True, help=config_help)
    replay.set_defaults(handler=_reported(_replay))

    purge = actions.add_parser("purge", help="forget every dead letter")
    purge.add_argument("--yes", action="store_true", help="yes, forget them for good")
    purge.add_argument("--config", type=Path, required=True, help=config_help)
    purge.set_defaults(handler=_reported(_purge))
