"""Custom fields: the type vocabulary, the config's checks, and the schema they build."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

from app.config import ConfigError, parse_config
from app.demo import demo_config
from app.domain.custom import FieldType
from app.domain.entities import with_custom
from app.domain.money import Money
from app.mapping.converters import ConversionError
from schema import build_schema, schema


def config(entities: dict[str, Any]) -> dict[str, Any]:
    data = demo_config("http://127.0.0.1:9", Path("/tmp/keys.json"))
    data["entities"] = entities
    return data


def problems(entities: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(config(entities), check_secrets=False)
    return str(raised.value)


def customer_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {"customer": {"source": "hubspot", "fields": fields}}


# -- the types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wire", "domain"),
    [
        ("String", " gold ", "gold"),
        ("Int", "42", 42),
        ("Float", "2.5", 2.5),
        ("Boolean", "true", True),
        ("DateTime", "2025-01-02T03:04:05Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("DateTime", "1735787045000", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_a_scalar_is_read_from_the_crms_form(text: str, wire: Any, domain: Any) -> None:
    assert FieldType.parse(text).read(wire) == domain


def test_money_is_a_decimal_amount_in_the_configured_currency() -> None:
    money = FieldType.parse("Money", currency="EUR")
    assert money.read("1234.50") == Money(Decimal("1234.50"), "EUR")
    assert money.write(Money(Decimal("1.10"), "EUR")) == "1.10"


def test_an_enum_matches_the_crms_value_without_regard_to_case() -> None:
    tier = FieldType.parse("Enum[GOLD, SILVER]", {"GOLD": "Gold tier"})
    assert tier.read("gold TIER") == "GOLD"
    assert tier.read("silver") == "SILVER"
    assert tier.write("GOLD") == "Gold tier"
    with pytest.raises(ConversionError, match="none of GOLD, SILVER"):
        tier.read("Bronze")


def test_a_value_in_the_wrong_form_is_a_problem_not_a_guess() -> None:
    with pytest.raises(ConversionError):
        FieldType.parse("Int").read("4.5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date", "unknown type 'Date'"),
        ("Enum[]", "at least one member"),
        ("Enum[gold]", "upper-case"),
        ("Enum[A, A]", "each member once"),
        ("Money", "ISO 4217"),
    ],
)
def test_a_bad_type_says_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FieldType.parse(text)


# -- the config ------------------------------------------------------------------------------


def test_an_entity_may_still_be_named_by_its_source_alone() -> None:
    settings = parse_config(config({"customer": "hubspot"}), check_secrets=False)
    assert settings.source_of("customer")[0] == "hubspot"
    assert settings.custom_fields()["customer"] == {}


def test_a_custom_field_may_not_take_a_built_in_name() -> None:
    assert "customer already has a field 'email'" in problems(
        customer_fields({"email": {"path": "x"}})
    )


def test_a_custom_field_name_is_lower_camel_case() -> None:
    assert "must be lowerCamelCase" in problems(customer_fields({"vip_tier": {"path": "x"}}))


def test_a_custom_field_names_known_roles_only() -> None:
    text = problems(customer_fields({"vipTier": {"path": "x", "roles": ["nobody"]}}))
    assert "entities.customer.fields.vipTier.roles: no role named 'nobody'" in text


def test_a_custom_field_comes_from_its_entitys_source() -> None:
    text = problems(customer_fields({"vipTier": {"path": "x", "source": "salesforce"}}))
    assert "must be the customer source, 'hubspot'" in text


def test_player_stats_fields_are_neither_filtered_nor_written() -> None:
    text = problems(
        {"player_stats": {"source": "players", "fields": {"vip": {"path": "v", "writable": True}}}}
    )
    assert "entities.player_stats.fields.vip.writable" in text


def test_money_is_neither_filtered_nor_written() -> None:
    money = {"path": "m", "type": "Money", "currency": "EUR", "filterable": True, "writable": True}
    text = problems(customer_fields({"ltv": money}))
    assert "ltv.filterable" in text
    assert "ltv.writable" in text


# -- the schema ------------------------------------------------------------------------------


def test_a_config_without_custom_fields_shows_no_placeholder() -> None:
    assert "custom" not in schema._schema.type_map["CustomerFilter"].fields  # type: ignore[union-attr]
    assert "JSON" not in schema._schema.type_map


def test_custom_fields_are_typed_in_one_schema_and_absent_from_another() -> None:
    settings = parse_config(
        config(
            customer_fields(
                {
                    "vipTier": {"path": "vip", "type": "Enum[GOLD, SILVER]", "filterable": True},
                    "score": {"path": "s", "type": "Int", "writable": True},
                }
            )
        ),
        check_secrets=False,
    )
    built = build_schema(with_custom(settings.custom_fields()))._schema
    customer = built.type_map["Customer"]
    assert isinstance(customer, GraphQLObjectType)
    assert {"vipTier", "score"} <= set(customer.fields)
    assert isinstance(built.type_map["CustomerVipTier"], GraphQLEnumType)
    custom_filter = built.type_map["CustomerCustomFilter"]
    assert isinstance(custom_filter, GraphQLInputObjectType)
    assert set(custom_filter.fields) == {"vipTier"}
    custom_input = built.type_map["CustomerCustomInput"]
    assert isinstance(custom_input, GraphQLInputObjectType)
    assert set(custom_input.fields) == {"score"}
    shared = schema._schema.type_map["Customer"]
    assert isinstance(shared, GraphQLObjectType)
    assert "vipTier" not in shared.fields
