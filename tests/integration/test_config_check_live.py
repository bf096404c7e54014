"""``crmgraph config check --live`` as a user runs it: the console script in a process of its
own, asking the simulators (real loopback HTTP) whether they have what a config names."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.demo import DEMO_ENV, demo_config
from app.simulators.server import RunningSimulators
from tests.benchmarks.harness import CRMGRAPH, free_port
from tests.integration.simulators.test_metadata_routes import OTHER_ORG


def check(config: dict[str, Any], folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMGRAPH_")}
    return subprocess.run(
        [CRMGRAPH, "config", "check", "--live", "--config", str(path)],
        capture_output=True,
        text=True,
        env={**env, **DEMO_ENV},
        timeout=60,
    )


@pytest.fixture
async def org(control: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The control client; the Salesforce org is made fresh again after the test."""
    yield control
    (await control.delete("/salesforce/__org")).raise_for_status()


def test_the_demo_config_passes_against_the_default_simulators(
    simulators: RunningSimulators, tmp_path: Path
) -> None:
    done = check(demo_config(simulators.base_url), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK (4 sources; the CRMs have what it names, 1 warning(s))" in done.stdout
    # A fresh org has no "qualified" status: said, not fatal (the client refuses it).
    [warning] = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert warning.startswith(
        "warning: salesforce: sources.salesforce.lead_statuses: lead status QUALIFIED: the "
        "org's Lead.Status picklist has no value for it; set sources.salesforce.lead_statuses"
    )
    assert "Traceback" not in done.stderr


async def test_fields_the_crms_lack_fail_the_check_naming_each(
    simulators: RunningSimulators, tmp_path: Path, org: httpx.AsyncClient
) -> None:
    (await org.put("/salesforce/__org", json=OTHER_ORG)).raise_for_status()
    config = demo_config(simulators.base_url)
    config["sources"]["hubspot"]["brand_property"] = "casino_brand"  # type: ignore[index]
    config["sources"]["zendesk"]["brands"][360999] = "moonbet"  # type: ignore[index]
    done = check(config, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: hubspot: sources.hubspot.brand_property: the account has no contact property "
        "casino_brand; set brand_property to the property's internal name (Settings → "
        "Properties)",
        "error: salesforce: sources.salesforce.brand_field: the org's Lead object has no field "
        "Brand__c: every lead read names it; set brand_field to the org's brand field, or null "
        "if leads carry no brand",
        "error: zendesk: sources.zendesk.brands.360999: the account has no brand 360999 (for "
        "'moonbet'); its brands are 360001 (LuckySpin Casino), 360002 (Gold Coast Bet), "
        "360003 (Northstar Games)",
    ]
    # The org's own statuses were read: each of ours has a value; only its retired (inactive)
    # value means none of ours, which leads still in it are read with no status for.
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: salesforce: sources.salesforce.lead_statuses: the org's lead status 'Retired' "
        "means none of ours (a lead in it is read without a status); set "
        "sources.salesforce.lead_statuses ('Retired': one of NEW, WORKING, QUALIFIED, "
        "UNQUALIFIED, CONVERTED)"
    ]
    assert "3 problem(s), 1 warning(s)" in done.stderr


async def test_a_status_the_org_cannot_take_and_a_wrong_override_are_said_precisely(
    simulators: RunningSimulators, tmp_path: Path, org: httpx.AsyncClient
) -> None:
    shape = {**OTHER_ORG, "lead_fields_absent": []}
    shape["lead_statuses"] = [
        s for s in OTHER_ORG["lead_statuses"] if "Qualified" not in s["value"]
    ]
    (await org.put("/salesforce/__org", json=shape)).raise_for_status()
    config = demo_config(simulators.base_url)
    config["sources"]["salesforce"]["lead_statuses"] = {"Sales Ready": "QUALIFIED"}  # type: ignore[index]
    done = check(config, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (
        "error: salesforce: sources.salesforce.lead_statuses.Sales Ready: the org's Lead.Status "
        "picklist has no value 'Sales Ready'" in lines
    )
    assert any(
        line.startswith(
            "warning: salesforce: sources.salesforce.lead_statuses: lead status QUALIFIED: the "
            "org's Lead.Status picklist has no value for it"
        )
        for line in lines
    )


def test_an_unreachable_crm_exits_2_with_one_line_and_no_secret(
    simulators: RunningSimulators, tmp_path: Path
) -> None:
    config = demo_config(simulators.base_url)
    closed = f"http://127.0.0.1:{free_port()}"
    config["sources"]["salesforce"]["base_url"] = closed  # type: ignore[index]
    done = check(config, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"{tmp_path / 'crmgraph.yaml'}: source salesforce ({closed}) could not be reached: "
        "GET /services/data/v61.0/sobjects/Lead/describe failed: ConnectError"
    ]
    assert "error:" not in done.stdout  # the others answered and have what it names
    for secret in DEMO_ENV.values():
        assert secret not in done.stdout + done.stderr


def test_custom_fields_the_crms_lack_fail_the_check_naming_each(
    simulators: RunningSimulators, tmp_path: Path
) -> None:
    config = demo_config(simulators.base_url)
    config["entities"] = {
        "customer": {"source": "hubspot", "fields": {"vipTier": {"path": "vip_tier"}}},
        "lead": {"source": "salesforce", "fields": {"score": {"path": "Score__c", "type": "Int"}}},
        "ticket": {"source": "zendesk", "fields": {"vipTier": {"path": "custom_fields.360999"}}},
    }
    done = check(config, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = "\n".join(line for line in done.stdout.splitlines() if line.startswith("error:"))
    assert "vip_tier" in errors
    assert "Score__c" in errors
    assert (
        "zendesk: entities.ticket.fields.vipTier.path: the account has no ticket field 360999"
        in errors
    )
