"""The Dynamics connector's live check against the Dataverse simulator over real loopback HTTP:
it reads the org's table definitions (``EntityDefinitions``) in one ``$batch`` and names each
column and option value the config and the field maps use that the org lacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.connectors.dynamics import describe
from app.connectors.metadata import CheckContext, Finding
from app.domain.custom import CustomFieldSpec, FieldType
from tests.integration.connectors.conftest import API, PREFIX, Build, Stats

CONTEXT = CheckContext(("luckyspin",))
DEFINITIONS = f"GET {API}/EntityDefinitions{{rest:path}}"


@pytest.fixture
async def org(control: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The control client; the org is made fresh again after the test."""
    yield control
    (await control.delete(f"{PREFIX}/__org")).raise_for_status()


async def reshape(org: httpx.AsyncClient, shape: dict[str, Any]) -> None:
    (await org.put(f"{PREFIX}/__org", json=shape)).raise_for_status()


def errors(findings: list[Finding]) -> dict[str, str]:
    return {f.path: f.message for f in findings if f.severity == "error"}


def warnings(findings: list[Finding]) -> dict[str, str]:
    return {f.path: f.message for f in findings if f.severity == "warning"}


async def test_a_fresh_org_has_all_the_config_names_in_one_batch(
    build: Build, stats: Stats
) -> None:
    dyn = build(lifecycle_column=None)
    await dyn.customers_by_email(["x@example.com"], ["email"])  # the token, beforehand
    await stats.reset()
    checked = await describe.check(dyn, CONTEXT)
    assert checked.findings == []
    assert await stats.routes() == {f"POST {API}/$batch": 1}
    [batch] = [r for r in await stats.requests() if r["path"].endswith("/$batch")]
    body = str(batch["body"])
    # Each part asks the definitions: one per table, one per option set; no rows.
    assert body.count(" EntityDefinitions(LogicalName=") == 7
    assert body.count("GET ") == 7
    assert body.count("$expand=OptionSet") == 4


async def test_a_column_the_org_lacks_is_an_error_at_its_setting(
    build: Build, org: httpx.AsyncClient
) -> None:
    await reshape(org, {"columns_absent": {"contact": ["crmgraph_playerid"]}})
    checked = await describe.check(build(), CONTEXT)
    assert errors(checked.findings) == {
        "sources.dynamics.player_id_column": "the contact table has no column "
        "crmgraph_playerid; set player_id_column to the column's logical name"
    }


async def test_a_setting_naming_a_column_nobody_has_is_an_error(build: Build) -> None:
    checked = await describe.check(build(lifecycle_column="new_stage"), CONTEXT)
    assert errors(checked.findings) == {
        "sources.dynamics.lifecycle_column": "the contact table has no column new_stage; set "
        "lifecycle_column to the column's logical name"
    }


async def test_a_custom_fields_column_the_org_lacks_is_an_error_at_its_path(
    build: Build, org: httpx.AsyncClient
) -> None:
    await reshape(org, {"columns_extra": {"lead": [{"name": "new_score", "type": "int"}]}})
    specs = {
        "score": CustomFieldSpec("score", "new_score", FieldType("Int")),
        "tier": CustomFieldSpec("tier", "new_tier@label", FieldType("String")),
    }
    checked = await describe.check(build(custom={"lead": specs}), CONTEXT)
    assert errors(checked.findings) == {
        "entities.lead.fields.tier.path": "the lead table has no column new_tier"
    }


async def test_a_column_crmgraph_itself_reads_is_named_too(
    build: Build, org: httpx.AsyncClient
) -> None:
    await reshape(org, {"columns_absent": {"incident": ["description"]}})
    checked = await describe.check(build(), CONTEXT)
    assert errors(checked.findings) == {
        "sources.dynamics": "the incident table has no column description, which crmgraph reads"
    }


async def test_a_status_the_config_maps_that_the_org_lacks_is_an_error(build: Build) -> None:
    checked = await describe.check(build(lead_statuses={100000001: "QUALIFIED"}), CONTEXT)
    assert errors(checked.findings) == {
        "sources.dynamics.lead_statuses.100000001": "the org's lead.statuscode option set has "
        "no value 100000001 (mapped to QUALIFIED)"
    }


async def test_priorities_and_sources_the_config_maps_are_checked(build: Build) -> None:
    dyn = build(ticket_priorities={4: "URGENT"}, lead_sources={"Webinar": 100000002})
    found = errors((await describe.check(dyn, CONTEXT)).findings)
    assert found == {
        "sources.dynamics.ticket_priorities.4": "the org's incident.prioritycode option set has "
        "no value 4 (mapped to URGENT)",
        "sources.dynamics.lead_sources.webinar": "the org's lead.leadsourcecode option set has "
        "no value 100000002 (for 'webinar')",
    }


async def test_an_org_with_its_own_option_sets(build: Build, org: httpx.AsyncClient) -> None:
    await reshape(
        org,
        {
            "option_sets": {
                "incident": {
                    "statuscode": [
                        {"value": 1, "label": "In Progress", "state": 0},
                        {"value": 4, "label": "Researching", "state": 0},
                        {"value": 100000000, "label": "Escalated", "state": 0},
                        {"value": 5, "label": "Problem Solved", "state": 1},
                        {"value": 6, "label": "Canceled", "state": 2},
                    ]
                },
                "lead": {"leadsourcecode": [{"value": 8, "label": "Web"}]},
            }
        },
    )
    checked = await describe.check(build(ticket_statuses={100000000: "OPEN"}), CONTEXT)
    found = [f for f in checked.findings if f.severity == "error"]
    # Dataverse's defaults crmgraph writes for ON_HOLD (2), PENDING (3) and CLOSED (1000):
    # this org lacks them, so such writes fail.
    assert {f.path for f in found} == {"sources.dynamics.ticket_statuses"}
    assert [f.message.split(",")[0] for f in found] == [
        "the org's incident.statuscode option set has no value 3",
        "the org's incident.statuscode option set has no value 2",
        "the org's incident.statuscode option set has no value 1000",
    ]
    assert found[2].message == (
        "the org's incident.statuscode option set has no value 1000, Dataverse's default for "
        "CLOSED, which crmgraph writes for it; map one of the org's values (1 In Progress, "
        "4 Researching, 100000000 Escalated, 5 Problem Solved, 6 Canceled) to CLOSED in "
        "sources.dynamics.ticket_statuses"
    )
    said = [f.message for f in checked.findings if f.severity == "warning"]
    assert any(
        "no value 2000 (Dataverse's default, read as CLOSED; never written)" in m for m in said
    )
    assert any("no value 3, Dataverse's default for 'External Referral'" in m for m in said)
    assert not any("100000000" in m for m in said)  # the config maps it


async def test_an_org_value_none_of_ours_means_is_a_warning(
    build: Build, org: httpx.AsyncClient
) -> None:
    high_normal_low = [
        {"value": 1, "label": "High"},
        {"value": 2, "label": "Normal"},
        {"value": 3, "label": "Low"},
        {"value": 100000000, "label": "Critical"},
    ]
    await reshape(org, {"option_sets": {"incident": {"prioritycode": high_normal_low}}})
    checked = await describe.check(build(), CONTEXT)
    assert errors(checked.findings) == {}
    assert warnings(checked.findings) == {
        "sources.dynamics.ticket_priorities": "the org's case priority 100000000 (Critical) "
        "means none of ours (a row holding it is read without its case priority); set "
        "sources.dynamics.ticket_priorities (100000000: one of HIGH, NORMAL, LOW)"
    }
