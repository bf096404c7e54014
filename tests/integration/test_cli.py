"""The `crmgraph` command, run as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRMGRAPH = str(Path(sys.executable).with_name("crmgraph"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CRMGRAPH, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_schema_prints_the_contract_types() -> None:
    result = run("schema")
    assert result.returncode == 0
    for line in (
        "interface Node",
        "type Customer implements Node",
        "customers(first: Int = 50, after: String = null, filter: CustomerFilter = null): "
        "CustomerConnection!",
        "tickets(status: [TicketStatus!] = null, first: Int = 20): [Ticket!]!",
        "enum LeadStatus",
    ):
        assert line in result.stdout


def test_config_check_accepts_the_example_when_its_secrets_are_there(tmp_path: Path) -> None:
    secret = tmp_path / "sf"
    secret.write_text("secret")
    config = (ROOT / "crmgraph.example.yaml").read_text()
    config = config.replace("/run/secrets/salesforce_client_secret", str(secret))
    config = config.replace("keys_file: crmgraph-keys.json", f"keys_file: {tmp_path / 'keys.json'}")
    path = tmp_path / "crmgraph.yaml"
    path.write_text(config)
    env = {
        "HUBSPOT_TOKEN": "t",
        "SALESFORCE_CLIENT_ID": "i",
        "ZENDESK_API_TOKEN": "z",
        "PLAYERS_API_KEY": "p",
        "HUBSPOT_APP_CLIENT_SECRET": "h",
        "ZENDESK_WEBHOOK_SECRET": "w",
        "PLAYERS_WEBHOOK_SECRET": "v",
    }
    result = run("config", "check", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "OK (4 sources)" in result.stdout


def test_config_check_names_each_mistake_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "crmgraph.yaml"
    path.write_text("brands: []\nsources: {}\nserver: {port: -1}\n")
    result = run("config", "check", str(path))
    assert result.returncode == 1
    assert "brands: List should have at least 1 item" in result.stderr
    assert "server.port:" in result.stderr


def test_config_check_names_an_entity_without_its_source(tmp_path: Path) -> None:
    path = tmp_path / "crmgraph.yaml"
    path.write_text("brands: [a]\nsources: {}\n")
    result = run("config", "check", str(path))
    assert result.returncode == 1
    assert "entities.customer: no source named 'hubspot'" in result.stderr


def test_serve_refuses_a_bad_config_without_starting(tmp_path: Path) -> None:
    path = tmp_path / "crmgraph.yaml"
    path.write_text("sources: [\n")
    result = run("serve", "--config", str(path))
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr


def test_cache_flush_without_a_shared_tier_says_there_is_nothing_to_flush(tmp_path: Path) -> None:
    path = tmp_path / "crmgraph.yaml"
    config = (ROOT / "crmgraph.example.yaml").read_text()
    path.write_text(config)
    result = run("cache", "flush", "--config", str(path))
    assert result.returncode == 1
    assert "cache.redis_url is not set" in result.stderr


def test_schema_with_a_config_shows_its_custom_fields(tmp_path: Path) -> None:
    import yaml

    from app.demo import demo_config

    config = demo_config("http://127.0.0.1:9", tmp_path / "keys.json")
    config["entities"] = {
        "customer": {
            "source": "hubspot",
            "fields": {
                "vipTier": {"path": "vip_tier", "type": "Enum[GOLD, SILVER]", "filterable": True},
                "score": {"path": "score", "type": "Int", "writable": True},
            },
        }
    }
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run("schema", "--config", str(path))
    assert result.returncode == 0, result.stderr
    for line in (
        "  vipTier: CustomerVipTier",
        "enum CustomerVipTier {",
        "input CustomerCustomFilter {",
        "input CustomerCustomInput {",
        "  custom: CustomerCustomFilter",
    ):
        assert line in result.stdout, line
    assert "vipTier" not in run("schema").stdout  # the shared schema: none of a config's
