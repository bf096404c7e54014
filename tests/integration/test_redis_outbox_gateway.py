"""Two gateways sharing the outbox in Redis, through their HTTP endpoints: a write queued on one
instance that then stops is applied once by the other, and an import interrupted on one is
resumed on the other from the shared ledger without duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.keys import KeyStore
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway

LEAD_POSTS = "POST /services/data/{version}/sobjects/Lead"
CREATE_MANY = "POST /services/data/{version}/composite/sobjects"
CREATE = """mutation($input: CreateLeadInput!, $key: String) {
  createLead(input: $input, idempotencyKey: $key) { status syncJobId userErrors { code } } }"""
IMPORT = """mutation($leads: [CreateLeadInput!]!, $key: String) {
  importLeads(leads: $leads, idempotencyKey: $key) { status syncJobId accepted rejected } }"""
SYNC_JOB = """query($id: ID!) { syncJob(id: $id) {
  status attempts recordId lastError progress { created skipped } } }"""


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    """The writes change Salesforce's data: restore it afterwards."""
    yield
    (await control.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
def instance(simulators: RunningSimulators, tmp_path: Path, prefix: str, redis_url: str) -> Any:
    """``instance(name)``: a gateway on the shared Redis outbox (its own SQLite for the rest),
    served until the ``async with`` block ends, with an admin client."""
    keys_file = tmp_path / "keys.json"
    admin = KeyStore(keys_file).create("admin", ["*"])[0]
    writes = {
        "backend": "redis",
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "lease_seconds": 1,  # a stopped instance's claim is taken over within a second
        "worker_interval": 0.05,
        "backoff_base": 0.05,
        "max_attempts": 100,  # still queued, not parked, while Salesforce is down
        "default_phone_region": "GB",
    }

    @contextlib.asynccontextmanager
    async def serve(name: str) -> AsyncIterator[GraphQL]:
        own = {**writes, "outbox_path": str(tmp_path / f"{name}.sqlite3")}
        with serve_gateway(simulators.base_url, keys_file, writes=own) as url:
            headers = {"X-API-Key": admin}
            async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
                yield GraphQL(client)

    return serve


async def job_once(gql: GraphQL, job_id: str, done: Any) -> dict[str, Any]:
    """The job's syncJob once ``done(job)`` holds (bounded wait)."""
    for _ in range(600):
        job: dict[str, Any] = (await gql.data(SYNC_JOB, id=job_id))["syncJob"]
        if done(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job never got there: {job}")


async def served(upstreams: Upstreams, route: str) -> int:
    """Requests Salesforce took on ``route``: all of them minus those it refused."""
    stats = (await upstreams.client.get("/salesforce/__stats")).json()
    return int(stats["requests"].get(route, 0) - stats["refused"]["requests"].get(route, 0))


async def test_a_write_queued_on_a_stopped_instance_is_applied_once_by_another(
    instance: Any, upstreams: Upstreams
) -> None:
    tag = uuid.uuid4().hex[:8]
    lead = {
        "firstName": "Ada",
        "lastName": f"Lovelace {tag}",
        "email": f"ada.{tag}@example.com",
        "company": "Analytical Engines",
        "brand": "luckyspin",
    }
    async with instance("a") as a:
        await a.data("{ leads(first: 1) { edges { cursor } } }")  # the OAuth token first
        await upstreams.configure(
            "salesforce", {"routes": {LEAD_POSTS: {"error_rate": 1, "error_status": 503}}}
        )
        answer = (await a.data(CREATE, input=lead, key=tag))["createLead"]
        assert (answer["status"], answer["userErrors"]) == ("QUEUED", [])
        job_id = answer["syncJobId"]
        # Instance A's worker is trying it (and failing) before A stops.
        await job_once(a, job_id, lambda job: job["attempts"] >= 1)
    assert await served(upstreams, LEAD_POSTS) == 0

    await upstreams.configure("salesforce", {})  # Salesforce is back, A is gone
    async with instance("b") as b:
        job = await job_once(b, job_id, lambda job: job["status"] == "APPLIED")
    assert job["recordId"].startswith("salesforce:00Q")
    assert await served(upstreams, LEAD_POSTS) == 1  # applied exactly once


async def test_an_import_interrupted_on_one_instance_is_resumed_on_another_without_duplicates(
    instance: Any, upstreams: Upstreams
) -> None:
    tag = uuid.uuid4().hex[:8]
    rows = [
        {
            "firstName": "Grace",
            "lastName": f"Hopper {i}",
            "email": f"grace.{tag}.{i}@example.com",
            "company": "Navy",
            "brand": "luckyspin",
        }
        for i in range(450)
    ]
    count = "{ leads(first: 1) { totalCount } }"
    async with instance("a") as a:
        before = (await a.data(count))["leads"]["totalCount"]
        # The first Collections call is served, every later one fails: A creates one batch
        # (200 rows, or the last 50: the batches go in parallel), records it in the shared
        # ledger, and stops part-way.
        await upstreams.configure(
            "salesforce",
            {"routes": {CREATE_MANY: {"clean_first": 1, "error_rate": 1, "error_status": 503}}},
        )
        answer = (await a.data(IMPORT, leads=rows, key=tag))["importLeads"]
        assert (answer["status"], answer["accepted"]) == ("QUEUED", 450)
        job_id = answer["syncJobId"]
        job = await job_once(
            a, job_id, lambda job: job["attempts"] >= 1 and job["status"] != "APPLYING"
        )
        assert "stopped" in (job["lastError"] or "")
        created_by_a = (await a.data(count))["leads"]["totalCount"] - before
    assert await served(upstreams, CREATE_MANY) == 1
    assert created_by_a in (200, 50)

    await upstreams.configure("salesforce", {})
    async with instance("b") as b:
        job = await job_once(b, job_id, lambda job: job["status"] == "APPLIED")
        after = (await b.data(count))["leads"]["totalCount"]
    assert job["progress"]["created"] + job["progress"]["skipped"] == 450
    assert job["progress"]["skipped"] == created_by_a  # B read A's batch from the ledger
    assert after == before + 450  # every row once, none twice
