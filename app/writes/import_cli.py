"""``crmgraph import leads FILE --config FILE [--dry-run] [--ledger PATH] [--report PATH]``.

FILE is CSV (``.csv``: a header row, then one lead a row) or JSON lines (``.jsonl``: one object
a line); the columns or keys are ``firstName, lastName, email, phone, company, leadSource,
brand`` (snake_case too). Line numbers are the file's own (a CSV's header is line 1).

A progress bar goes to stderr, the summary to stdout, and with ``--report`` every reason a row
was rejected to a CSV file (``line, field, code, message``). The ledger (default: FILE +
``.ledger``) records what was created, so running the same command again after an interruption
carries on without creating anything twice (see :mod:`app.writes.importer`).

Exit status: 0 when the import ran to the end (rejected rows included), 1 on a setup error
(config, file, format), 2 when it stopped early because Salesforce was unavailable (run it again
to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.config import ConfigError, load_config
from app.connectors.salesforce import SalesforceClient
from app.domain.validation import INVALID_VALUE, FieldError, Invalid
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


def summary(report: ImportReport) -> str:
    rate = report.done / report.wall_seconds if report.wall_seconds > 0 else 0.0
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
    if not isinstance(leads, SalesforceClient):  # the config validator checked the kind
        await gateway.aclose()
        raise SetupError("the lead source is not a Salesforce source")
    console = Console(stderr=True)
    try:
        with Progress(
            TextColumn("importing leads"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=not console.is_terminal,
        ) as bar:
            task = bar.add_task("import", total=total)

            def progress(report: ImportReport) -> None:
                done = report.read if report.dry_run else report.done
                bar.update(task, completed=done)

            report = await import_leads(
                reader_for(path),
                leads,
                ledger,
                dry_run=args.dry_run,
                default_region=settings.writes.default_phone_region,
                on_progress=progress,
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
