"""``crmgraph config check --live`` of a Dynamics 365 config, as a user runs it: the console
script in a process of its own, reading the Dataverse simulator's table definitions over real
loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.demo import demo_config
from app.simulators.server import RunningSimulators
from tests.integration.test_config_check_live import check


@pytest.fixture
async def org(control: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The control client; the Dataverse org is made fresh again after the test."""
    yield control
    (await control.delete("/dynamics/__org")).raise_for_status()


def lines(stdout: str, severity: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f"{severity}:")]


def test_the_dynamics_demo_config_passes_against_the_default_simulator(
    simulators: RunningSimulators, tmp_path: Path
) -> None:
    done = check(demo_config(simulators.base_url, crm="dynamics"), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the CRMs have what it names" in done.stdout
    assert lines(done.stdout, "error") == []
    assert lines(done.stdout, "warning") == []
    assert "Traceback" not in done.stderr


async def test_a_column_and_an_option_value_the_org_lacks_fail_the_check(
    simulators: RunningSimulators, tmp_path: Path, org: httpx.AsyncClient
) -> None:
    shape = {
        "columns_absent": {"lead": ["crmgraph_brand"]},
        "option_sets": {
            "incident": {
                "prioritycode": [
                    {"value": 1, "label": "High"},
                    {"value": 2, "label": "Normal"},
                    {"value": 3, "label": "Low"},
                ]
            }
        },
    }
    (await org.put("/dynamics/__org", json=shape)).raise_for_status()
    config = demo_config(simulators.base_url, crm="dynamics")
    config["sources"]["dynamics"]["ticket_priorities"] = {4: "URGENT"}  # type: ignore[index]
    done = check(config, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert lines(done.stdout, "error") == [
        "error: dynamics: sources.dynamics.brand_column: the lead table has no column "
        "crmgraph_brand; set brand_column to the column's logical name",
        "error: dynamics: sources.dynamics.ticket_priorities.4: the org's incident.prioritycode "
        "option set has no value 4 (mapped to URGENT)",
    ]
    assert "2 problem(s)" in done.stderr
