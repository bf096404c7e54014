"""A write naming a brand the config does not have is refused before any upstream call: through
createLead, importLeads and `crmgraph import leads`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.gateway.conftest import GraphQL, Upstreams
from tests.integration.gateway.test_writes import new_lead
from tests.integration.test_import_leads import config_file, read_report, run_cli

__all__ = ["config_file"]  # the CLI's config, as a fixture of this module too

CREATE = """mutation($input: CreateLeadInput!) {
  createLead(input: $input) { status syncJobId userErrors { field code message } lead { id } } }"""
IMPORT = """mutation($leads: [CreateLeadInput!]!) {
  importLeads(leads: $leads) { status syncJobId accepted rejected
    userErrors { field code message } } }"""
BRANDS = "goldcoast, luckyspin, northstar"


async def test_create_lead_refuses_an_unknown_brand_and_calls_nothing(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    before = await upstreams.total()
    data = (await gql.data(CREATE, input=new_lead(brand="nosuchbrand")))["createLead"]
    assert (data["status"], data["syncJobId"], data["lead"]) == (None, None, None)
    [error] = data["userErrors"]
    assert (error["field"], error["code"]) == (["input", "brand"], "UNKNOWN_BRAND")
    assert "'nosuchbrand'" in error["message"]
    assert BRANDS in error["message"]
    assert await upstreams.total() == before


async def test_import_leads_rejects_the_rows_of_an_unknown_brand(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    before = await upstreams.total()
    rows = [new_lead(brand="nosuchbrand"), new_lead(brand="nosuchbrand")]
    data = (await gql.data(IMPORT, leads=rows))["importLeads"]
    assert (data["status"], data["syncJobId"], data["accepted"], data["rejected"]) == (
        None,
        None,
        0,
        2,
    )
    assert [(e["field"], e["code"]) for e in data["userErrors"]] == [
        (["leads", "0", "brand"], "UNKNOWN_BRAND"),
        (["leads", "1", "brand"], "UNKNOWN_BRAND"),
    ]
    assert all(BRANDS in e["message"] for e in data["userErrors"])
    assert await upstreams.total() == before


def test_the_import_command_rejects_a_row_of_an_unknown_brand_with_its_line(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "leads.csv"
    source.write_text(
        "firstName,lastName,email,company,brand\n"
        "Ann,Lee,ann@example.com,Acme,nosuchbrand\n"
        "Bob,Ray,bob@example.com,Acme,nosuchbrand\n"
    )
    report = tmp_path / "rejected.csv"
    code, out, _ = run_cli(
        capsys, str(source), "--config", str(config_file), "--report", str(report), "--dry-run"
    )
    assert code == 0
    assert "read 2 rows: 0 valid" in out
    assert read_report(report) == [("2", "brand", "UNKNOWN_BRAND"), ("3", "brand", "UNKNOWN_BRAND")]
