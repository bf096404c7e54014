"""A real `crmgraph serve` killed (SIGKILL) with writes still queued, then started again on the
same config: every queued write is applied, and none twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.auth.keys import KeyStore
from app.demo import DEMO_ENV
from app.simulators.server import RunningSimulators
from app.writes.outbox import APPLYING, Outbox
from tests.benchmarks.harness import CRMGRAPH, free_port, wait_until_up
from tests.integration.gateway.conftest import GraphQL, Upstreams, gateway_config

LEAD_POSTS = "POST /services/data/{version}/sobjects/Lead"
CREATE = """mutation($input: CreateLeadInput!, $key: String) {
  createLead(input: $input, idempotencyKey: $key) { status syncJobId userErrors { code } } }"""
SYNC_JOB = "query($id: ID!) { syncJob(id: $id) { status attempts recordId lastError } }"
N = 5


@pytest.fixture
def setup(simulators: RunningSimulators, tmp_path: Path) -> tuple[Path, str, Path]:
    """A config file with its own outbox and keys; the admin key; the outbox's path."""
    keys_file = tmp_path / "keys.json"
    admin = KeyStore(keys_file).create("admin", ["*"])[0]
    outbox = tmp_path / "outbox.sqlite3"
    config = gateway_config(
        simulators.base_url,
        keys_file,
        writes={
            "outbox_path": str(outbox),
            "worker_interval": 0.05,
            "backoff_base": 0.05,
            "max_attempts": 100,  # the writes must still be queued, not parked, at the kill
            "default_phone_region": "GB",
        },
    )
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, admin, outbox


@contextlib.asynccontextmanager
async def serve(
    config: Path, admin: str, log: Path, *args: str
) -> AsyncIterator[tuple[GraphQL, Any]]:
    """`crmgraph serve --config` (and ``args``) in a session of its own; the admin client and
    the process. Whatever is still running at the end is killed, workers and all."""
    port = free_port()
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            CRMGRAPH,
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            *args,
            env={**os.environ, **DEMO_ENV},
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_until_up(f"{base}/healthz")
        headers = {"X-API-Key": admin}
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
            yield GraphQL(client), proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def kill(proc: Any) -> None:
    """A crash of the whole service: the server and any worker processes, at once."""
    os.killpg(proc.pid, signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL


async def served_lead_creates(upstreams: Upstreams) -> int:
    """Lead creates Salesforce actually took: requests to the route minus those it refused."""
    stats = (await upstreams.client.get("/salesforce/__stats")).json()
    return int(
        stats["requests"].get(LEAD_POSTS, 0) - stats["refused"]["requests"].get(LEAD_POSTS, 0)
    )


async def wait_applied(gql: GraphQL, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each job's syncJob once every one is APPLIED (or what they are after a bounded wait)."""
    jobs: dict[str, dict[str, Any]] = {}
    for _ in range(600):
        for job_id in job_ids:
            jobs[job_id] = (await gql.data(SYNC_JOB, id=job_id))["syncJob"]
        if all(job["status"] == "APPLIED" for job in jobs.values()):
            break
        await asyncio.sleep(0.05)
    return jobs


def new_lead() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "firstName": "Grace",
        "lastName": f"Hopper {tag}",
        "email": f"grace.{tag}@example.com",
        "phone": "020 7946 0958",
        "company": "Compilers Ltd",
        "brand": "luckyspin",
    }


async def test_writes_queued_when_the_server_is_killed_are_applied_once_after_restart(
    setup: tuple[Path, str, Path], upstreams: Upstreams, tmp_path: Path
) -> None:
    config, admin, _ = setup
    log = tmp_path / "server.log"
    async with serve(config, admin, log) as (gql, proc):
        await gql.data("{ leads(first: 1) { edges { cursor } } }")  # the OAuth token first
        await upstreams.configure(
            "salesforce", {"routes": {LEAD_POSTS: {"error_rate": 1, "error_status": 503}}}
        )
        job_ids = []
        for _ in range(N):
            answer = (await gql.data(CREATE, input=new_lead(), key=str(uuid.uuid4())))["createLead"]
            assert (answer["status"], answer["userErrors"]) == ("QUEUED", [])
            job_ids.append(answer["syncJobId"])
        await kill(proc)
    assert len(set(job_ids)) == N
    assert await served_lead_creates(upstreams) == 0  # nothing reached Salesforce yet

    await upstreams.configure("salesforce", {})  # Salesforce is back
    async with serve(config, admin, log) as (gql, _):
        jobs = await wait_applied(gql, job_ids)
    assert [job["status"] for job in jobs.values()] == ["APPLIED"] * N, jobs
    record_ids = [job["recordId"] for job in jobs.values()]
    assert all(record_id.startswith("salesforce:00Q") for record_id in record_ids)
    assert len(set(record_ids)) == N
    assert await served_lead_creates(upstreams) == N  # each applied exactly once


async def test_a_job_a_dead_process_left_applying_is_applied_once_after_restart(
    setup: tuple[Path, str, Path], upstreams: Upstreams, tmp_path: Path
) -> None:
    # The state a process killed between claiming a job and sending it leaves behind: the
    # job is claimed ("applying") in the file, and no request reached the CRM.
    config, admin, outbox_path = setup
    values = {
        "first_name": "Ada",
        "last_name": f"Lovelace {uuid.uuid4().hex[:8]}",
        "email": "ada@example.com",
        "company": "Analytical Engines",
        "brand": "luckyspin",
    }
    async with Outbox(outbox_path) as outbox:
        job = await outbox.enqueue("salesforce", "lead", "lead:new:k1", "create_lead", values)
        assert [j.id for j in await outbox.claim_due(10)] == [job.id]
        claimed = await outbox.get(job.id)
        assert claimed is not None
        assert claimed.state == APPLYING

    async with serve(config, admin, tmp_path / "server.log") as (gql, _):
        jobs = await wait_applied(gql, [job.id])
    assert jobs[job.id]["status"] == "APPLIED", jobs
    assert jobs[job.id]["recordId"].startswith("salesforce:00Q")
    assert await served_lead_creates(upstreams) == 1
