"""A poisoned event lands in the dead letters, `crmgraph dlq` shows it, and once its cause is
fixed a replay has the worker apply it. Through the gateway's HTTP port and the real CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.cli import build_parser
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import gateway_config
from tests.integration.webhooks.conftest import (
    body_of,
    eventually,
    opened,
    webhook_gateway,
    webhooks_config,
    zendesk_event,
    zendesk_headers,
)
from tests.redis_server import free_port

UNMAPPED_BRAND = 360009  # a Zendesk brand the demo's config does not map


def crmgraph(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    args = build_parser().parse_args(list(argv))
    code: int = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    # The commands run their own event loop, as they do from a shell.
    return await asyncio.to_thread(crmgraph, capsys, *argv)


def fixed_sources(simulators_url: str, keys_file: Path) -> dict[str, Any]:
    sources: dict[str, Any] = gateway_config(simulators_url, keys_file)["sources"]
    sources["zendesk"]["brands"][UNMAPPED_BRAND] = "luckyspin"
    return sources


@pytest.fixture
def config_file(simulators: RunningSimulators, keys_file: Path, tmp_path: Path) -> Path:
    """The deployment's config as the CLI reads it: it names the same webhook store."""
    config = gateway_config(simulators.base_url, keys_file)
    config["webhooks"] = webhooks_config(tmp_path / "webhooks.sqlite3")
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def poisoned(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], tmp_path: Path
) -> str:
    """A dead letter: a ticket event of a brand the config does not map; its store id."""
    store_file = tmp_path / "webhooks.sqlite3"
    with webhook_gateway(simulators.base_url, keys_file, store_file) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            body = body_of(zendesk_event(4, brand_id=UNMAPPED_BRAND, event_id="poison-1"))
            response = await http.post(
                "/webhooks/zendesk", content=body, headers=zendesk_headers(body)
            )
            assert response.json() == {"accepted": 1, "duplicates": 0}
        async with opened(store_file) as store:
            await eventually(lambda: _count(store, 1))
            [letter] = await store.dead_letters()
    return letter.id


async def _count(store: Any, dead: int) -> bool:
    return bool(await store.dead_letter_count() == dead)


async def test_a_poisoned_event_is_listed_with_its_reason(
    poisoned: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(capsys, "dlq", "list", "--config", str(config_file))
    assert code == 0
    [header, row, summary] = out.splitlines()
    assert header.split()[:3] == ["ID", "SOURCE", "EVENT"]
    assert row.split()[:4] == [poisoned, "zendesk", "zendesk:poison-1", "1"]
    assert f"Zendesk brand {UNMAPPED_BRAND} is not mapped" in row
    assert summary == "dead letters: 1; events waiting for the worker: 0"


async def test_show_prints_the_event_and_its_payload_only_when_asked(
    poisoned: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(capsys, "dlq", "show", poisoned, "--config", str(config_file))
    assert code == 0
    assert f"reason:      Zendesk brand {UNMAPPED_BRAND} is not mapped" in out
    assert "zen:ticket:4" not in out
    _, full, _ = await cli(
        capsys, "dlq", "show", poisoned, "--payload", "--config", str(config_file)
    )
    assert '"subject": "zen:ticket:4"' in full


async def test_a_dead_letter_replayed_after_its_cause_is_fixed_is_applied(
    poisoned: str,
    config_file: Path,
    simulators: RunningSimulators,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_file = tmp_path / "webhooks.sqlite3"
    fixed = fixed_sources(simulators.base_url, keys_file)  # the brand is mapped now
    with webhook_gateway(simulators.base_url, keys_file, store_file, sources=fixed):
        code, out, _ = await cli(capsys, "dlq", "replay", poisoned, "--config", str(config_file))
        assert code == 0
        assert out.strip() == f"1 dead letter(s) queued again for the worker: {poisoned}"
        async with opened(store_file) as store:

            async def applied() -> bool:
                return await store.depth() == 0 and await store.dead_letter_count() == 0

            await eventually(applied)


async def test_a_replay_without_the_fix_lands_in_the_dead_letters_again(
    poisoned: str,
    config_file: Path,
    simulators: RunningSimulators,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_file = tmp_path / "webhooks.sqlite3"
    with webhook_gateway(simulators.base_url, keys_file, store_file):
        code, _, _ = await cli(capsys, "dlq", "replay", "--all", "--config", str(config_file))
        assert code == 0
        async with opened(store_file) as store:
            await eventually(lambda: _count(store, 1))
            [letter] = await store.dead_letters()
    assert letter.id == poisoned


async def test_purge_needs_yes_and_then_forgets_them(
    poisoned: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await cli(capsys, "dlq", "purge", "--config", str(config_file))
    assert code == 1
    assert "--yes" in err
    code, out, _ = await cli(capsys, "dlq", "purge", "--yes", "--config", str(config_file))
    assert (code, out.strip()) == (0, "1 dead letter(s) purged")
    _, listed, _ = await cli(capsys, "dlq", "list", "--config", str(config_file))
    assert listed.splitlines()[0] == "no dead letters"


async def test_an_unknown_id_is_an_error(
    poisoned: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await cli(capsys, "dlq", "replay", "whk_nope", "--config", str(config_file))
    assert code == 1
    assert "no dead letter whk_nope" in err
    code, _, err = await cli(capsys, "dlq", "show", "whk_nope", "--config", str(config_file))
    assert code == 1


def test_a_store_that_does_not_exist_is_named(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = crmgraph(capsys, "dlq", "list", "--config", str(config_file))
    assert code == 1
    assert "webhooks.sqlite3 does not exist" in err


def test_a_redis_store_that_is_down_is_one_line(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = yaml.safe_load(config_file.read_text())
    config["webhooks"]["redis_url"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing there
    config_file.write_text(yaml.safe_dump(config))
    code, _, err = crmgraph(capsys, "dlq", "list", "--config", str(config_file))
    assert code == 1
    assert err.startswith("crmgraph dlq: the webhook store's Redis failed: ConnectionError")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
