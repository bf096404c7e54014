"""``crmgraph import leads FILE --config FILE [--dry-run] [--ledger PATH] [--report PATH]``.

FILE is CSV (``.csv``: a header row, then one lead a row) or JSON lines (``.jsonl``: one object
a line); the columns or keys are ``firstName, lastName, email, phone, company, leadSource,
brand`` (snake_case too). Line numbers are the file's own (a CSV's header is line 1).

Progress goes to stderr (a bar on a terminal, otherwise a plain line at each tenth of the rows
and at least every 5 s, and one at the end), the summary to stdout, and with ``--report`` every
reason a row was rejected to a CSV file (``line, field, code, message``). The ledger (default:
FILE + ``.ledger``) records what was created, so running the same command again after an
interruption carries on without creating anything twice (see :mod:`app.writes.importer`).

Exit status: 0 when the import ran to the end (rejected rows included), 1 on a setup error
(config, file, format), 2 when it stopped early because Salesforce was unavailable (run it again
to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.config import ConfigError, load_config
from app.domain.validation import INVALID_VALUE, FieldError, Invalid
from app.observability.setup import routine_calls
from app.writes.importer import ImportReport, import_leads

Rows = Iterator[tuple[int, Mapping[str, Any] | Invalid]]


class SetupError(Exception):
    """A mistake in the command, the config or the file; shown as is, exit status 1."""


def _bad_row(message: str) -> Invalid:
    return Invalid([FieldError(("input",), INVALID_VALUE, message)])


def csv_rows(path: Path) -> Rows:
    """``(line, row)`` for each record of a CSV file with a header row."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise SetupError(f"{path}: the first row must name the columns")
        names = [name.strip() for name in header]
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, _bad_row(f"the row is not valid CSV: {exc}")
                continue
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(names):
                yield start, _bad_row(f"the row has {len(record)} cells, the header {len(names)}")
                continue
            yield start, {name: cell for name, cell in zip(names, record, strict=False) if name}


def jsonl_rows(path: Path) -> Rows:
    """``(line, object)`` for each non-blank line of a JSON lines file."""
    with path.open(encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                yield number, _bad_row("the line is not valid JSON")
                continue
            if not isinstance(value, dict):
                yield number, _bad_row("the line must be a JSON object")
                continue
            yield number, value


def reader_for(path: Path) -> Rows:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return csv_rows(path)
    if suffix == ".jsonl":
        return jsonl_rows(path)
    raise SetupError(f"{path}: give a .csv or a .jsonl file")


def write_report(path: Path, report: ImportReport) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["line", "field", "code", "message"])
        for rejection in report.rejected:
            for reason in rejection.reasons:
                out.writerow([rejection.line, reason.field, reason.code, reason.message])


def rows_done(report: ImportReport) -> int:
    """The rows dealt with so far: read (and validated) in a dry run, else sent or rejected."""
    return report.read if report.dry_run else report.done


class LineProgress:
    """Progress as plain lines, for a log file or a CI job rather than a terminal: one each
    time another tenth of the rows is done or ``every`` seconds have passed, and one at the
    end."""

    def __init__(
        self,
        total: int,
        out: TextIO,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.out = out
        self.every = every
        self.clock = clock
        self.started = self.last_at = clock()
        self.done = self.last_tenth = 0
        self.said: int | None = None  # the count of the last line

    def update(self, done: int) -> None:
        self.done = done
        tenth = done * 10 // self.total if self.total else 10
        if tenth > self.last_tenth or self.clock() - self.last_at >= self.every:
            self.last_tenth = tenth
            self._line()

    def finish(self) -> None:
        if self.said != self.done:
            self._line()

    def _line(self) -> None:
        self.last_at = self.clock()
        self.said = self.done
        share = f" ({self.done * 100 // self.total}%)" if self.total else ""
        elapsed = self.last_at - self.started
        print(
            f"importing leads: {self.done}/{self.total} rows{share}, {elapsed:.1f}s",
            file=self.out,
            flush=True,
        )


@contextlib.contextmanager
def showing_progress(total: int) -> Iterator[Callable[[int], None]]:
    """Somewhere to report the rows done: a bar on stderr when it is a terminal, else lines."""
    console = Console(stderr=True)
    if not console.is_terminal:
        lines = LineProgress(total, sys.stderr)
        yield lines.update
        lines.finish()
        return
    with Progress(
        TextColumn("importing leads"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("import", total=total)
        yield lambda done: bar.update(task, completed=done)


def summary(report: ImportReport) -> str:
    rate = rows_done(report) / report.wall_seconds if report.wall_seconds > 0 else 0.0
    verb = "would be created" if report.dry_run else "created"
    pending = report.valid - report.skipped if report.dry_run else report.created
    return (
        f"read {report.read} rows: {report.valid} valid, {pending} {verb}, "
        f"{report.skipped} skipped (already imported), {len(report.rejected)} rejected\n"
        f"upstream requests: {report.upstream_requests}; wall time {report.wall_seconds:.2f}s "
        f"({rate:.0f} rows/s)"
    )


async def _run(args: argparse.Namespace) -> int:
    from app.gateway import build_gateway

    path: Path = args.file
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        raise SetupError(str(exc)) from None
    total = sum(1 for _ in reader_for(path))  # a first pass: the bar's length, format errors
    ledger: Path = args.ledger or path.with_name(path.name + ".ledger")
    gateway = build_gateway(settings)
    leads = gateway.sources.leads
    # The progress is the import's own account: each call that went well is logged at debug,
    # not on top of it (a failed or throttled call still is, as a warning).
    routine_calls()
    try:
        with showing_progress(total) as show:
            report = await import_leads(
                reader_for(path),
                leads,
                ledger,
                dry_run=args.dry_run,
                phone_region=settings.writes.phone_region,
                brands=settings.brands,
                on_progress=lambda now: show(rows_done(now)),
            )
    finally:
        await gateway.aclose()
    if args.report is not None:
        write_report(args.report, report)
    print(summary(report), flush=True)
    if report.stopped is not None:
        print(
            f"crmgraph import: stopped early: {report.stopped}\n"
            f"the rows created so far are in {ledger}; run the same command again to resume",
            file=sys.stderr,
        )
        return 2
    return 0


def _import_leads(args: argparse.Namespace) -> int:
    try:
        if not args.file.is_file():
            raise SetupError(f"{args.file}: no such file")
        return asyncio.run(_run(args))
    except (SetupError, OSError, ValueError) as exc:
        print(f"crmgraph import: {exc}", file=sys.stderr)
        return 1


def add_import_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``import leads`` to a parser's sub-commands."""
    imports = commands.add_parser("import", help="bulk-create records from a file")
    kinds = imports.add_subparsers(dest="import_command", required=True)
    leads = kinds.add_parser(
        "leads", help="create Salesforce leads from a CSV or JSON lines file, resumably"
    )
    leads.add_argument("file", type=Path, metavar="FILE", help="a .csv (with header) or .jsonl")
    leads.add_argument("--config", type=Path, required=True, help="the deployment's YAML config")
    leads.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    leads.add_argument(
        "--ledger", type=Path, default=None, help="what was created, for resuming (FILE.ledger)"
    )
    leads.add_argument("--report", type=Path, default=None, help="rejected rows to this CSV")
    leads.set_defaults(handler=_import_leads)
