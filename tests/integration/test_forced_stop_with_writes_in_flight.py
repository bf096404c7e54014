"""A real `crmgraph serve` stopped by force (a second Ctrl-C: uvicorn stops waiting and the
requests still running are cancelled) while createLead requests wait on Salesforce, then
started again on the same files: resending each idempotency key answers that write's job,
not a new one, and every lead is created once.

The cancellation reaches ``WriteService.run`` after the write was kept in the outbox and its
key bound to the job; the worker applies that job after the restart, so the key must still
name it (a kill -9 runs no code, so ``test_kill_with_writes_in_flight`` cannot see this)."""

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
from tests.integration.test_restart_with_queued_writes import new_lead, serve

LEAD_POSTS = "POST /services/data/{version}/sobjects/Lead"
CREATE = """mutation($input: CreateLeadInput!, $key: String) {
  createLead(input: $input, idempotencyKey: $key) {
    status syncJobId userErrors { code message } lead { id email } } }"""
BY_EMAIL = """query($email: String!) {
  leads(first: 10, filter: {email: $email}) { edges { node { id email } } } }"""
N = 3


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    yield
    (await control.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
def setup(simulators: RunningSimulators, tmp_path: Path) -> tuple[Path, str]:
    keys_file = tmp_path / "keys.json"
    admin = KeyStore(keys_file).create("admin", ["*"])[0]
    writes: dict[str, Any] = {
        "outbox_path": str(tmp_path / "outbox.sqlite3"),
        "worker_interval": 0.05,
        "backoff_base": 0.05,
        "max_attempts": 100,
        "default_phone_region": "GB",
    }
    config = gateway_config(simulators.base_url, keys_file, writes=writes)
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, admin


async def lead_posts(upstreams: Upstreams) -> int:
    return (await upstreams.routes("salesforce")).get(LEAD_POSTS, 0)


async def stop_by_force(proc: Any) -> None:
    """Ctrl-C twice: the first starts a graceful stop, the second ends the waiting for the
    requests still running, which are cancelled."""
    os.killpg(proc.pid, signal.SIGINT)
    await asyncio.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 30)


async def test_a_key_resent_after_a_forced_stop_answers_its_first_job(
    setup: tuple[Path, str], upstreams: Upstreams, tmp_path: Path
) -> None:
    config, admin = setup
    log = tmp_path / "server.log"
    leads = {str(uuid.uuid4()): new_lead() for _ in range(N)}
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
        await stop_by_force(proc)
        await asyncio.gather(*sent, return_exceptions=True)
    await upstreams.configure("salesforce", {})

    async with serve(config, admin, log) as (gql, _):
        first = {
            key: (await gql.data(CREATE, input=lead, key=key))["createLead"]
            for key, lead in leads.items()
        }
        answers = dict(first)
        for _ in range(600):
            if all(answer["status"] == "APPLIED" for answer in answers.values()):
                break
            await asyncio.sleep(0.1)
            for key, lead in leads.items():
                answers[key] = (await gql.data(CREATE, input=lead, key=key))["createLead"]
        found = {
            key: (await gql.data(BY_EMAIL, email=lead["email"]))["leads"]["edges"]
            for key, lead in leads.items()
        }
    for key in leads:
        # The resend answers the first job (still queued, or applied by now), not a new write
        # (before: the key had been released as the request was cancelled, and the resend
        # created the lead again, APPLIED with no job).
        assert first[key]["syncJobId"], first[key]
        assert first[key]["status"] in ("QUEUED", "APPLIED"), first[key]
        assert first[key]["userErrors"] == [], first[key]
        assert answers[key]["status"] == "APPLIED", answers[key]
        assert answers[key]["syncJobId"] == first[key]["syncJobId"], answers[key]
        assert [e["node"] for e in found[key]] == [answers[key]["lead"]], found[key]
