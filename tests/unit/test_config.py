from pathlib import Path

import pytest
import yaml

from app.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "crmgraph.example.yaml"
SECRETS = {
    "HUBSPOT_TOKEN": "t",
    "SALESFORCE_CLIENT_ID": "i",
    "ZENDESK_API_TOKEN": "z",
    "PLAYERS_API_KEY": "p",
    "HUBSPOT_APP_CLIENT_SECRET": "h",
    "ZENDESK_WEBHOOK_SECRET": "w",
    "PLAYERS_WEBHOOK_SECRET": "v",
}


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    secret = tmp_path / "sf_secret"
    secret.write_text("s\n")
    data = yaml.safe_load(EXAMPLE.read_text())
    data["sources"]["salesforce"]["auth"]["client_secret"] = {"file": str(secret)}
    return data


def test_the_example_file_is_valid(example: dict) -> None:
    settings = parse_config(example)
    assert settings.sources["zendesk"].brands == {  # type: ignore[union-attr]
        360001: "luckyspin",
        360002: "goldcoast",
        360003: "northstar",
    }


def test_every_mistake_is_named_with_its_path(example: dict) -> None:
    example["sources"]["hubspot"]["base_url"] = "not a url"
    example["sources"]["zendesk"]["auth"]["email"] = "nobody"
    example["server"]["port"] = 70000
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    paths = {path for path, _ in raised.value.problems}
    assert "sources.hubspot.base_url" in paths
    assert "sources.zendesk.auth.email" in paths
    assert "server.port" in paths


def test_a_missing_secret_names_the_variable_not_a_value(
    example: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBSPOT_TOKEN")
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert raised.value.problems == [
        ("sources.hubspot.auth.token", "environment variable HUBSPOT_TOKEN is not set")
    ]


def test_an_inline_secret_is_refused(example: dict) -> None:
    example["sources"]["hubspot"]["auth"]["token"] = "pat-na1-123"
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert raised.value.problems[0][0] == "sources.hubspot.auth.token"
    assert "pat-na1-123" not in str(raised.value)


def test_an_entity_must_name_a_source_of_its_kind(example: dict) -> None:
    example["entities"]["lead"] = "hubspot"
    with pytest.raises(ConfigError, match=r"entities\.lead: source 'hubspot' is a hubspot source"):
        parse_config(example)


def test_unknown_keys_are_refused(example: dict) -> None:
    example["server"]["prot"] = 1
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert raised.value.problems[0][0] == "server.prot"


def test_a_file_that_is_not_yaml_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: [1\n")
    with pytest.raises(ConfigError) as raised:
        load_config(bad)
    assert raised.value.problems[0][0].startswith("line ")


def test_the_anonymous_role_must_exist(example: dict) -> None:
    example["auth"] = {"anonymous_role": "visitor"}
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert raised.value.problems == [("auth.anonymous_role", "no role named 'visitor'")]


def test_a_role_names_only_types_roles_govern(example: dict) -> None:
    example["roles"] = {"bi": {"read": {"Customer": ["*"], "Invoice": ["*"]}}}
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert raised.value.problems[0][0] == "roles.bi.read.Invoice"


def test_a_service_role_lists_exactly_its_fields(example: dict) -> None:
    example["roles"] = {"service": {"read": {"PlayerStats": ["playerId", "level"]}}}
    assert parse_config(example).roles["service"].read == {"PlayerStats": ["playerId", "level"]}


def test_a_brand_phone_region_falls_back_to_the_default(example: dict) -> None:
    writes = parse_config(example).writes
    assert (writes.phone_region("luckyspin"), writes.phone_region("northstar")) == ("BR", "GB")
    assert writes.phone_region(None) == "GB"


@pytest.mark.parametrize(
    ("regions", "path"),
    [
        ({"default_phone_region": "XX"}, "writes.default_phone_region"),
        ({"phone_regions": {"goldcoast": "ZZ"}}, "writes.phone_regions.goldcoast"),
        ({"phone_regions": {"goldcoast": "mt"}}, "writes.phone_regions.goldcoast"),
    ],
)
def test_a_phone_region_phonenumbers_does_not_know_is_named(
    example: dict, regions: dict, path: str
) -> None:
    example["writes"].update(regions)
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert [p for p, _ in raised.value.problems] == [path]


def test_a_phone_region_of_a_brand_the_config_lacks_is_named(example: dict) -> None:
    example["writes"]["phone_regions"] = {"moonbet": "GB"}
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert raised.value.problems == [
        ("writes.phone_regions.moonbet", "not one of the config's brands")
    ]


@pytest.mark.parametrize("wait", [0, -1, 31, "soon"])
def test_a_redis_timeout_out_of_range_is_named(example: dict, wait: object) -> None:
    example["redis_timeout"] = wait
    with pytest.raises(ConfigError) as raised:
        parse_config(example)
    assert [path for path, _ in raised.value.problems] == ["redis_timeout"]
