"""`crmgraph outbox …`, through real argument parsing, against a config and an outbox on disk."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from app.writes.outbox import Job, Outbox
from app.writes.outbox_cli import add_outbox_commands

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

PAYLOAD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada.secret@example.com",
    "phone": "+442079460958",
    "company": "Analytical Engines",
}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmgraph")
    add_outbox_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def crmgraph(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    args = parser().parse_args(["outbox", *argv])
    code: int = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "crmgraph.example.yaml").read_text())
    data["writes"] = {"outbox_path": "data/outbox.sqlite3"}  # relative to the config file
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def outbox_path(config: Path) -> Path:
    return config.parent / "data" / "outbox.sqlite3"


def on_outbox(path: Path, work: Callable[[Outbox], Awaitable[T]]) -> T:
    async def run() -> T:
        async with Outbox(path) as outbox:
            return await work(outbox)

    return asyncio.run(run())


def enqueue(outbox: Outbox, n: int, **payload: Any) -> Awaitable[Job]:
    return outbox.enqueue("salesforce", "lead", f"lead:new:form-{n}", "create_lead", payload)


def queued_job(path: Path) -> Job:
    return on_outbox(path, lambda outbox: enqueue(outbox, 1, **PAYLOAD))


def failed_job(path: Path, error: str = "503 from salesforce: the service is unavailable") -> Job:
    async def work(outbox: Outbox) -> Job:
        job = await enqueue(outbox, 2, **PAYLOAD)
        await outbox.claim_due(10)
        return await outbox.retry_later(job.id, error, 0, max_attempts=1)

    return on_outbox(path, work)


def applied_job(path: Path) -> Job:
    async def work(outbox: Outbox) -> Job:
        job = await enqueue(outbox, 3, **PAYLOAD)
        await outbox.claim_due(10)
        return await outbox.applied(job.id, {"record_id": "salesforce:00Q000000000042"})

    return on_outbox(path, work)


def state_of(path: Path, job_id: str) -> str:
    job = on_outbox(path, lambda outbox: outbox.get(job_id))
    assert job is not None
    return job.state


def test_list_shows_each_job_and_the_depth_per_state(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    failed = failed_job(outbox_path)  # jobs that are claimed first: claim_due takes the oldest
    applied = applied_job(outbox_path)
    queued = queued_job(outbox_path)
    code, out, err = crmgraph(capsys, "list", "--config", str(config))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "OPERATION",
        "RECORD",
        "STATE",
        "ATTEMPTS",
        "NEXT",
        "ATTEMPT",
        "LAST",
        "ERROR",
    ]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert set(rows) == {queued.id, failed.id, applied.id}
    assert rows[queued.id].split()[1:5] == ["create_lead", "lead:new:form-1", "queued", "0"]
    assert rows[failed.id].split()[1:5] == ["create_lead", "lead:new:form-2", "failed", "1"]
    assert "503 from salesforce" in rows[failed.id]
    assert rows[applied.id].split()[1:5] == [
        "create_lead",
        "salesforce:00Q000000000042",
        "applied",
        "0",
    ]
    assert lines[-1] == "depth: queued 1, applying 0, applied 1, failed 1, dropped 0"


def test_list_never_prints_a_payload(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    failed_job(outbox_path)
    queued_job(outbox_path)
    code, out, err = crmgraph(capsys, "list", "--config", str(config))
    assert code == 0, err
    for value in PAYLOAD.values():
        assert value not in out + err
    assert "Lovelace" not in out + err


def test_list_filters_by_state_and_limits(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    failed = failed_job(outbox_path)
    applied_job(outbox_path)
    queued_job(outbox_path)
    code, out, _ = crmgraph(capsys, "list", "--state", "failed", "--config", str(config))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == [failed.id]
    code, out, _ = crmgraph(capsys, "list", "--limit", "2", "--config", str(config))
    assert code == 0
    assert len(out.splitlines()[1:-1]) == 2
    assert out.splitlines()[-1].startswith("depth: queued 1,")  # the depth counts every job


def test_list_of_an_empty_state_says_so(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    queued_job(outbox_path)
    code, out, _ = crmgraph(capsys, "list", "--state", "dropped", "--config", str(config))
    assert code == 0
    assert out.splitlines()[0] == "no outbox jobs in state dropped"


def test_a_long_error_is_truncated_to_one_line(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    error = "the CRM said:\n" + "x" * 500
    failed_job(outbox_path, error)
    code, out, _ = crmgraph(capsys, "list", "--config", str(config))
    assert code == 0
    row = out.splitlines()[1]
    assert "the CRM said: xxx" in row
    assert "x" * 100 not in row
    assert row.endswith("…")


def test_list_without_an_outbox_file_is_an_error_and_creates_none(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    code, out, err = crmgraph(capsys, "list", "--config", str(config))
    assert code == 1
    assert out == ""
    assert "does not exist" in err
    assert str(outbox_path) in err
    assert not outbox_path.exists()


def test_a_bad_config_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, _, err = crmgraph(capsys, "list", "--config", str(missing))
    assert code == 1
    assert err.startswith("crmgraph outbox: ")


def test_retry_queues_a_failed_job_again(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    failed = failed_job(outbox_path)
    code, out, err = crmgraph(capsys, "retry", failed.id, "--config", str(config))
    assert code == 0, err
    assert f"outbox job {failed.id} (create_lead) is queued again" in out
    job = on_outbox(outbox_path, lambda outbox: outbox.get(failed.id))
    assert job is not None
    assert (job.state, job.attempts) == ("queued", 0)


def test_retry_of_a_job_that_has_not_failed_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    queued = queued_job(outbox_path)
    code, out, err = crmgraph(capsys, "retry", queued.id, "--config", str(config))
    assert code == 1
    assert out == ""
    assert err.strip() == f"crmgraph outbox: cannot re-queue outbox job {queued.id}: it is queued"
    assert state_of(outbox_path, queued.id) == "queued"


def test_retry_of_an_unknown_job_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    queued_job(outbox_path)
    code, out, err = crmgraph(capsys, "retry", "job_nope", "--config", str(config))
    assert code == 1
    assert out == ""
    assert err.strip() == "crmgraph outbox: no outbox job job_nope"


@pytest.mark.parametrize("make", [queued_job, failed_job], ids=["queued", "failed"])
def test_drop_takes_a_queued_or_failed_job_out_of_the_queue(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    outbox_path: Path,
    make: Callable[[Path], Job],
) -> None:
    job = make(outbox_path)
    code, out, err = crmgraph(capsys, "drop", job.id, "--config", str(config))
    assert code == 0, err
    assert f"outbox job {job.id} (create_lead) is dropped" in out
    assert state_of(outbox_path, job.id) == "dropped"


def test_drop_of_an_applied_job_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    applied = applied_job(outbox_path)
    code, _, err = crmgraph(capsys, "drop", applied.id, "--config", str(config))
    assert code == 1
    assert err.strip() == f"crmgraph outbox: cannot drop outbox job {applied.id}: it is applied"
    assert state_of(outbox_path, applied.id) == "applied"


def test_drop_of_an_unknown_job_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path, outbox_path: Path
) -> None:
    queued_job(outbox_path)
    code, _, err = crmgraph(capsys, "drop", "job_nope", "--config", str(config))
    assert code == 1
    assert err.strip() == "crmgraph outbox: no outbox job job_nope"


def test_an_unknown_state_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["outbox", "list", "--state", "lost", "--config", str(config)])
    assert exited.value.code == 2
