"""importLeads through the HTTP endpoint: rows validated at once, the valid ones a job the
outbox worker applies in Salesforce batches of 200, resumed after Salesforce fails mid-way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway

IMPORT = """mutation($leads: [CreateLeadInput!]!, $key: String) {
  importLeads(leads: $leads, idempotencyKey: $key) {
    status syncJobId accepted rejected userErrors { field code message }
  } }"""
JOB = """query($id: ID!) { syncJob(id: $id) {
  status attempts lastError
  progress { total created skipped rejected stopped userErrors { field code message } } } }"""
CREATE_MANY = "POST /services/data/{version}/composite/sobjects"


@pytest.fixture
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    with serve_gateway(simulators.base_url, keys_file) as url:
        yield url


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    yield
    (await control.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()


def rows(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "firstName": "Grace",
            "lastName": f"Hopper {i}",
            "email": f"grace.{tag}.{i}@example.com",
            "company": "Navy",
            "brand": "luckyspin",
        }
        for i in range(count)
    ]


async def finished(gql: GraphQL, job_id: str) -> dict[str, Any]:
    for _ in range(400):  # bounded wait for the worker
        job: dict[str, Any] = (await gql.data(JOB, id=job_id))["syncJob"]
        if job["status"] in ("APPLIED", "FAILED"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the import job did not finish: {job}")


async def total_leads(gql: GraphQL) -> int:
    return int((await gql.data("{ leads(first: 1) { totalCount } }"))["leads"]["totalCount"])


async def leads_with(gql: GraphQL, tag: str) -> int:
    query = """query($email: String!) { leads(first: 1, filter: {email: $email}) { totalCount } }"""
    found = 0
    for i in (0, 1, 449):
        data = await gql.data(query, email=f"grace.{tag}.{i}@example.com")
        found += data["leads"]["totalCount"]
    return found


async def test_valid_rows_become_a_job_and_bad_rows_are_reported_by_index(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    tag = uuid.uuid4().hex[:8]
    leads = rows(450, tag)
    leads[3]["email"] = "not an address"
    leads[7] = {"firstName": "Nobody"}
    data = (await gql.data(IMPORT, leads=leads))["importLeads"]
    assert data["status"] == "QUEUED"
    assert (data["accepted"], data["rejected"]) == (448, 2)
    fields = {tuple(e["field"]) for e in data["userErrors"]}
    assert ("leads", "3", "email") in fields
    assert any(f[:2] == ("leads", "7") for f in fields)

    job = await finished(gql, data["syncJobId"])
    assert job["status"] == "APPLIED"
    assert job["progress"] == {
        "total": 448,
        "created": 448,
        "skipped": 0,
        "rejected": 0,
        "stopped": None,
        "userErrors": [],
    }
    routes = await upstreams.routes("salesforce")
    assert routes[CREATE_MANY] == 3  # 448 rows in Collections of 200
    assert await leads_with(gql, tag) == 3


async def test_an_import_interrupted_by_salesforce_resumes_without_duplicates(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    before = await total_leads(gql)
    tag = uuid.uuid4().hex[:8]
    # Half of the Collections calls fail (seeded: the same ones every run), so the first run
    # creates some batches and stops; the rest are sent when the worker tries again.
    await upstreams.configure(
        "salesforce", {"seed": 3, "routes": {CREATE_MANY: {"error_rate": 0.5, "error_status": 503}}}
    )
    data = (await gql.data(IMPORT, leads=rows(450, tag), key=tag))["importLeads"]
    assert data["status"] == "QUEUED"
    job_id = data["syncJobId"]
    for _ in range(400):
        job = (await gql.data(JOB, id=job_id))["syncJob"]
        if job["attempts"] >= 1 and job["status"] != "APPLYING":
            break
        await asyncio.sleep(0.05)
    assert "stopped" in (job["lastError"] or "")
    stats = (await upstreams.client.get("/salesforce/__stats")).json()
    refused = stats["refused"]["requests"].get(CREATE_MANY, 0)
    assert 0 < refused < stats["requests"][CREATE_MANY]  # interrupted part-way
    await upstreams.configure("salesforce", {})
    job = await finished(gql, job_id)
    assert job["status"] == "APPLIED"
    assert job["progress"]["created"] + job["progress"]["skipped"] == 450
    assert await total_leads(gql) == before + 450  # every row once, none twice

    replay = (await gql.data(IMPORT, leads=rows(450, tag), key=tag))["importLeads"]
    assert replay["syncJobId"] == job_id  # the same key: the same job, nothing sent again


async def test_too_many_rows_or_none_is_a_user_error(gql: GraphQL, upstreams: Upstreams) -> None:
    for leads in ([], rows(2001, "x")):
        data = (await gql.data(IMPORT, leads=leads))["importLeads"]
        assert data["status"] is None
        assert data["userErrors"][0]["code"] == "INVALID_SIZE"
    assert await upstreams.total() == 0


async def test_a_brand_scoped_caller_cannot_import_into_another_brand(gql_as: Any) -> None:
    leads = rows(2, uuid.uuid4().hex[:8])
    leads[1]["brand"] = "goldcoast"
    data = (await gql_as("admin@luckyspin").data(IMPORT, leads=leads))["importLeads"]
    assert (data["accepted"], data["rejected"]) == (1, 1)
    assert data["userErrors"][0]["field"] == ["leads", "1", "brand"]
    assert data["userErrors"][0]["code"] == "FORBIDDEN_BRAND"
