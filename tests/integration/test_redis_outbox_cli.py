"""`crmgraph outbox …` on a config naming the Redis outbox, and `crmgraph config check`
refusing ``writes.backend: redis`` without a Redis URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from app.writes.outbox import Job
from app.writes.redis_outbox import RedisOutbox
from tests.integration.test_cli import ROOT, run
from tests.integration.test_outbox_cli import crmgraph

T = TypeVar("T")


@pytest.fixture
def config(tmp_path: Path, prefix: str, redis_url: str) -> Path:
    data = yaml.safe_load((ROOT / "crmgraph.example.yaml").read_text())
    data["writes"] = {"backend": "redis", "redis_url": redis_url, "redis_prefix": prefix}
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def on_outbox(url: str, prefix: str, work: Callable[[RedisOutbox], Awaitable[T]]) -> T:
    async def go() -> T:
        async with RedisOutbox.from_url(url, prefix) as outbox:
            return await work(outbox)

    return asyncio.run(go())


def failed_job(url: str, prefix: str) -> Job:
    async def work(outbox: RedisOutbox) -> Job:
        job = await outbox.enqueue("salesforce", "lead", "lead:new:1", "create_lead", {"n": 1})
        await outbox.claim_due(10)
        return await outbox.retry_later(job.id, "503 from salesforce", 0, max_attempts=1)

    return on_outbox(url, prefix, work)


def test_list_retry_and_drop_work_on_the_redis_outbox(
    capsys: pytest.CaptureFixture[str], config: Path, prefix: str, redis_url: str
) -> None:
    failed = failed_job(redis_url, prefix)
    code, out, err = crmgraph(capsys, "list", "--config", str(config))
    assert code == 0, err
    [row] = out.splitlines()[1:-1]
    assert row.split()[:5] == [failed.id, "create_lead", "lead:new:1", "failed", "1"]
    assert "503 from salesforce" in row
    assert out.splitlines()[-1] == "depth: queued 0, applying 0, applied 0, failed 1, dropped 0"

    code, out, err = crmgraph(capsys, "retry", failed.id, "--config", str(config))
    assert code == 0, err
    assert f"outbox job {failed.id} (create_lead) is queued again" in out
    code, out, err = crmgraph(capsys, "retry", failed.id, "--config", str(config))
    assert code == 1
    assert err.strip() == f"crmgraph outbox: cannot re-queue outbox job {failed.id}: it is queued"

    code, out, err = crmgraph(capsys, "drop", failed.id, "--config", str(config))
    assert code == 0, err
    job = on_outbox(redis_url, prefix, lambda outbox: outbox.get(failed.id))
    assert job is not None
    assert job.state == "dropped"
    code, _, err = crmgraph(capsys, "drop", "job_nope", "--config", str(config))
    assert code == 1
    assert err.strip() == "crmgraph outbox: no outbox job job_nope"


def test_config_check_refuses_a_redis_outbox_without_a_redis_url(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "crmgraph.example.yaml").read_text())
    data["writes"] = {"backend": "redis"}
    data.pop("redis_url", None)
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run("config", "check", str(path))
    assert result.returncode == 1
    assert "writes.backend: redis needs writes.redis_url or redis_url" in result.stderr
