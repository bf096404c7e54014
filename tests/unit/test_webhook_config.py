"""The ``webhooks`` section: mistakes named with their path, secrets only by reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import ConfigError, load_config, parse_config
from app.demo import demo_config, demo_settings


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    demo_settings("http://127.0.0.1:9")  # the demo's credentials in the environment
    return demo_config("http://127.0.0.1:9", tmp_path / "keys.json")


def problems(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(config)
    return dict(raised.value.problems)


def test_mistakes_are_named_with_their_path(config: dict[str, Any]) -> None:
    config["webhooks"] = {
        "hubspot": {"secret": "inline-secret-value"},
        "zendesk": {"secret": {"env": "X"}, "allow_ips": ["10.0.0.0/33"]},
        "players": {"secrets": []},
        "tolerance_seconds": 0,
        "salesforce_poll_interval": -1,
        "worker": 1,
    }
    found = problems(config)
    assert set(found) >= {
        "webhooks.hubspot.secret",
        "webhooks.zendesk.allow_ips.0",
        "webhooks.players.secrets",
        "webhooks.tolerance_seconds",
        "webhooks.salesforce_poll_interval",
        "webhooks.worker",
    }
    assert "inline-secret-value" not in str(found)


def test_an_unset_secret_is_named_by_its_place_in_the_list(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRMGRAPH_TEST_UNSET", raising=False)
    config["webhooks"]["players"] = {
        "secrets": [{"env": "CRMGRAPH_DEMO_PLAYERS_WEBHOOK_SECRET"}, {"env": "CRMGRAPH_TEST_UNSET"}]
    }
    assert problems(config) == {
        "webhooks.players.secrets.1": "environment variable CRMGRAPH_TEST_UNSET is not set"
    }


def test_the_store_is_beside_the_outbox_unless_named(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    settings = parse_config(config)
    outbox = settings.writes.outbox_path
    assert settings.webhooks.sqlite_path(settings.writes) == outbox.with_suffix(".webhooks.sqlite3")

    config["webhooks"] = {**config["webhooks"], "store_path": "data/hooks.sqlite3"}
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path)
    assert loaded.webhooks.sqlite_path(loaded.writes) == tmp_path / "data" / "hooks.sqlite3"
