"""Bulk lead import, through real loopback HTTP to the Salesforce simulator."""

from __future__ import annotations

import argparse
import csv
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.config import parse_config
from app.connectors.salesforce import SalesforceClient
from app.demo import demo_settings
from app.gateway import build_gateway
from app.simulators.server import RunningSimulators
from app.writes.import_cli import add_import_commands
from app.writes.importer import ImportReport, import_leads
from tests.integration.gateway.conftest import gateway_config

CREATE_MANY = "POST /services/data/{version}/composite/sobjects"
SF = "/salesforce"


def domain() -> str:
    """An email domain of this test's own: the simulator's records outlive a test."""
    return f"t{uuid.uuid4().hex[:12]}.example.com"


def rows(count: int, at: str, start: int = 2) -> list[tuple[int, dict[str, Any]]]:
    return [
        (start + i, {"firstName": f"Ann{i}", "lastName": "Lee", "company": "Acme",
                     "email": f"lead{i}@{at}"})
        for i in range(count)
    ]  # fmt: skip


@pytest.fixture
async def leads(
    simulators: RunningSimulators, control: httpx.AsyncClient, tmp_path: Path
) -> AsyncIterator[SalesforceClient]:
    demo_settings(simulators.base_url)  # the simulators' credentials, in the environment
    gateway = build_gateway(
        parse_config(gateway_config(simulators.base_url, tmp_path / "keys.json"))
    )
    client = gateway.sources.leads
    assert isinstance(client, SalesforceClient)
    yield client
    await gateway.aclose()


async def create_calls(control: httpx.AsyncClient) -> int:
    stats = (await control.get(f"{SF}/__stats")).json()
    return int(stats["requests"].get(CREATE_MANY, 0))


async def emails_in_salesforce(leads: SalesforceClient, emails: list[str]) -> dict[str, int]:
    found = await leads.leads_by_email(emails, ["email"])
    return {email: len(found.get(email, [])) for email in emails}


async def test_valid_rows_are_created_and_invalid_rows_rejected_with_line_and_reasons(
    leads: SalesforceClient, tmp_path: Path
) -> None:
    at = domain()
    given = [
        *rows(2, at),
        (4, {"firstName": "Bob", "email": "not-an-address"}),
        (5, {"lastName": "Kim", "company": "Acme", "phone": "12", "shoeSize": "9"}),
    ]
    report = await import_leads(given, leads, tmp_path / "ledger", phone_region=lambda _: "GB")
    assert (report.read, report.valid, report.created, report.skipped) == (4, 2, 2, 0)
    found = {r.line: {(x.field, x.code) for x in r.reasons} for r in report.rejected}
    assert found == {
        4: {("lastName", "REQUIRED"), ("company", "REQUIRED"), ("email", "INVALID_EMAIL")},
        5: {("phone", "INVALID_PHONE"), ("shoeSize", "UNKNOWN_FIELD")},
    }
    assert await emails_in_salesforce(leads, [f"lead0@{at}", f"lead1@{at}"]) == {
        f"lead0@{at}": 1,
        f"lead1@{at}": 1,
    }


async def test_a_dry_run_sends_nothing_and_writes_no_ledger(
    leads: SalesforceClient, control: httpx.AsyncClient, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    report = await import_leads(rows(5, domain()), leads, ledger, dry_run=True)
    assert (report.valid, report.created, report.upstream_requests) == (5, 0, 0)
    assert (await control.get(f"{SF}/__stats")).json()["total"] == 0
    assert not ledger.exists()


async def test_valid_rows_are_sent_in_collections_of_200(
    leads: SalesforceClient, control: httpx.AsyncClient, tmp_path: Path
) -> None:
    report = await import_leads(rows(450, domain()), leads, tmp_path / "ledger")
    assert report.created == 450
    assert await create_calls(control) == 3  # 200 + 200 + 50
    sizes = [
        len(r["body"]["records"])
        for r in (await control.get(f"{SF}/__requests")).json()["requests"]
        if r["method"] == "POST" and r["path"].endswith("/composite/sobjects")
    ]
    assert sorted(sizes) == [50, 200, 200]


async def test_an_interrupted_import_resumes_without_duplicates(
    leads: SalesforceClient, control: httpx.AsyncClient, tmp_path: Path
) -> None:
    at, ledger = domain(), tmp_path / "ledger"
    given = rows(1000, at)
    fault = {"routes": {CREATE_MANY: {"error_rate": 1, "error_status": 503}}}

    def break_on_third_batch(report: ImportReport) -> None:
        if report.created == 400:  # two batches in; the third meets a Salesforce outage
            httpx.put(
                f"{str(control.base_url).rstrip('/')}{SF}/__config", json=fault
            ).raise_for_status()

    first = await import_leads(
        given, leads, ledger, on_progress=break_on_third_batch, concurrency=1
    )
    assert first.created == 400
    assert first.stopped is not None
    (await control.put(f"{SF}/__config", json={})).raise_for_status()

    second = await import_leads(given, leads, ledger)
    assert (second.skipped, second.created, second.stopped) == (400, 600, None)
    counts = await emails_in_salesforce(leads, [values["email"] for _, values in given])
    assert set(counts.values()) == {1}


async def test_rows_of_a_batch_in_flight_when_stopped_are_looked_up_not_sent_again(
    leads: SalesforceClient, control: httpx.AsyncClient, tmp_path: Path
) -> None:
    at, ledger = domain(), tmp_path / "ledger"
    given = rows(300, at)
    await import_leads(given, leads, ledger)
    # As if the process died after sending, before recording the answer: only P entries.
    kept = [line for line in ledger.read_text().splitlines() if line.startswith("P ")]
    ledger.write_text("".join(f"{line}\n" for line in kept))
    (await control.post(f"{SF}/__reset")).raise_for_status()

    again = await import_leads(given, leads, ledger)
    assert (again.skipped, again.created) == (300, 0)
    assert await create_calls(control) == 0
    counts = await emails_in_salesforce(leads, [values["email"] for _, values in given])
    assert set(counts.values()) == {1}


# --- the command -----------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="crmgraph")
    add_import_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["import", "leads", *argv])
    capsys.readouterr()
    code: int = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config_file(simulators: RunningSimulators, tmp_path: Path) -> Path:
    demo_settings(simulators.base_url)
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(gateway_config(simulators.base_url, tmp_path / "keys.json")))
    return path


def read_report(path: Path) -> list[tuple[str, str, str]]:
    with path.open(newline="") as handle:
        return [(r["line"], r["field"], r["code"]) for r in csv.DictReader(handle)]


def test_the_command_reads_csv_with_file_line_numbers_and_reports_rejections(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = domain()
    source = tmp_path / "leads.csv"
    source.write_text(
        "first_name,lastName,email,phone,company,leadSource,brand\n"
        f"Ann,Lee,ann@{at},,Acme,Web,luckyspin\n"
        "\n"
        'Bob,"Multi\nLine",bob-at-nowhere,,Acme,,\n'
        f"Cy,Ng,,+44 20 7946 0958,Acme,,\n"
    )
    report = tmp_path / "rejected.csv"
    code, out, _ = run_cli(
        capsys, str(source), "--config", str(config_file), "--report", str(report)
    )
    assert code == 0
    assert "read 3 rows: 2 valid, 2 created" in out
    assert read_report(report) == [
        ("4", "lastName", "INVALID_VALUE"),  # a line break in a name
        ("4", "email", "INVALID_EMAIL"),
    ]


def test_the_command_reads_json_lines_and_a_dry_run_reports_what_would_be_created(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = domain()
    source = tmp_path / "leads.jsonl"
    lines = [
        json.dumps({"lastName": "Lee", "company": "Acme", "email": f"ann@{at}"}),
        "",
        "[1, 2]",
        json.dumps({"last_name": "Ng", "company": "Acme"}),
        "{not json",
    ]
    source.write_text("\n".join(lines) + "\n")
    report = tmp_path / "rejected.csv"
    code, out, _ = run_cli(
        capsys, str(source), "--config", str(config_file), "--dry-run", "--report", str(report)
    )
    assert code == 0
    assert "read 4 rows: 1 valid, 1 would be created" in out
    assert read_report(report) == [
        ("3", "", "INVALID_VALUE"),
        ("4", "email", "REQUIRED"),
        ("5", "", "INVALID_VALUE"),
    ]
    assert not (tmp_path / "leads.jsonl.ledger").exists()


def test_the_command_refuses_a_file_of_another_format_with_status_1(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "leads.xlsx"
    source.write_text("x")
    code, out, err = run_cli(capsys, str(source), "--config", str(config_file))
    assert (code, out) == (1, "")
    assert "give a .csv or a .jsonl file" in err
