"""A real `crmgraph serve` killed (SIGKILL) or stopped by force (a second Ctrl-C: uvicorn
stops waiting and cancels the requests still running) while createLead requests are still
waiting on Salesforce, then started again on the same files: every write is applied exactly
once, and replaying each idempotency key answers the write's real outcome with its job, never
IN_PROGRESS nor a second write. On both outbox backends.

A forced stop runs the cancelled requests' cleanup, which a kill does not: before, it
released each key, so a resend after the restart made a new write (APPLIED with no job) beside
the first job, which the worker still applied."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.auth.keys import KeyStore
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import Upstreams, gateway_config
from tests.integration.test_restart_with_queued_writes import kill, new_lead, serve

LEAD_POSTS = "POST /services/data/{version}/sobjects/Lead"
CREATE = """mutation($input: CreateLeadInput!, $key: String) {
  createLead(input: $input, idempotencyKey: $key) {
    status syncJobId userErrors { code message } lead { id email } } }"""
BY_EMAIL = """query($email: String!) {
  leads(first: 10, filter: {email: $email}) { edges { node { id email } } } }"""
N = 6


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    yield
    (await control.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture(params=["sqlite", "redis"])
def setup(
    request: pytest.FixtureRequest, simulators: RunningSimulators, tmp_path: Path
) -> tuple[Path, str]:
    """A config file with its own outbox (SQLite, or Redis with 1 s leases) and keys."""
    keys_file = tmp_path / "keys.json"
    admin = KeyStore(keys_file).create("admin", ["*"])[0]
    writes: dict[str, Any] = {
        "outbox_path": str(tmp_path / "outbox.sqlite3"),
        "worker_interval": 0.05,
        "backoff_base": 0.05,
        "max_attempts": 100,
        "default_phone_region": "GB",
    }
    overrides: dict[str, Any] = {}
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("prefix")
        writes |= {"backend": "redis", "redis_prefix": prefix, "lease_seconds": 1}
        overrides["redis_url"] = redis_url  # idempotency keys shared through Redis too
    config = gateway_config(simulators.base_url, keys_file, writes=writes, **overrides)
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, admin


async def stop_by_force(proc: Any) -> None:
    """Ctrl-C twice: the first starts a graceful stop, the second ends the waiting for the
    requests still running, which are cancelled."""
    os.killpg(proc.pid, signal.SIGINT)
    await asyncio.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 30)


async def lead_posts(upstreams: Upstreams) -> int:
    return (await upstreams.routes("salesforce")).get(LEAD_POSTS, 0)


@pytest.mark.parametrize("stop", [kill, stop_by_force], ids=["kill", "forced-stop"])
async def test_creates_in_flight_at_a_stop_are_applied_once_and_their_keys_resolve(
    setup: tuple[Path, str], upstreams: Upstreams, tmp_path: Path, stop: Any
) -> None:
    config, admin = setup
    log = tmp_path / "server.log"
    leads = {str(uuid.uuid4()): new_lead() for _ in range(N)}
    # One process: the one that has had Salesforce's answer to the first query (a second worker
    # would hold back all but 2 of its creates until its own first answer: cold-start pacing).
    async with serve(config, admin, log, "--workers", "1") as (gql, proc):
        await gql.data("{ leads(first: 1) { edges { cursor } } }")  # the OAuth token first
        before = await lead_posts(upstreams)
        await upstreams.configure("salesforce", {"routes": {LEAD_POSTS: {"latency_ms": 3000}}})
        sent = [
            asyncio.create_task(gql(CREATE, input=lead, key=key)) for key, lead in leads.items()
        ]
        for _ in range(200):  # every create is at Salesforce, none answered yet
            if await lead_posts(upstreams) - before == N:
                break
            await asyncio.sleep(0.01)
        assert await lead_posts(upstreams) - before == N
        await stop(proc)
        await asyncio.gather(*sent, return_exceptions=True)
    await upstreams.configure("salesforce", {})

    async with serve(config, admin, log) as (gql, _):
        answers: dict[str, dict[str, Any]] = {}
        for _ in range(600):
            for key, lead in leads.items():
                answers[key] = (await gql.data(CREATE, input=lead, key=key))["createLead"]
            if all(answer["status"] == "APPLIED" for answer in answers.values()):
                break
            # Recovery applies them one by one: each is either still queued or applied.
            assert all(answer["userErrors"] == [] for answer in answers.values()), answers
            assert all(a["status"] in ("QUEUED", "APPLIED") for a in answers.values()), answers
            assert all(answer["syncJobId"] for answer in answers.values()), answers
            await asyncio.sleep(0.1)
        found = {
            key: (await gql.data(BY_EMAIL, email=lead["email"]))["leads"]["edges"]
            for key, lead in leads.items()
        }
    for key, lead in leads.items():
        answer = answers[key]
        assert (answer["status"], answer["userErrors"]) == ("APPLIED", []), answer
        assert answer["syncJobId"], answer  # the first write's job, not a new write
        assert len(found[key]) == 1, (lead["email"], found[key])  # none lost, none doubled
        assert answer["lead"] == found[key][0]["node"]
