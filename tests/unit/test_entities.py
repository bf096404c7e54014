"""The entity registry is the one table: the schema, the cache groups and the policy agree
with it, and every field of a model is either declared or known to be structure."""

from __future__ import annotations

import dataclasses

import pytest
from graphql import GraphQLObjectType

from app.auth.policy import DEFAULT_ROLES, GOVERNED, Policy
from app.cache.groups import ALWAYS, DEFAULT_HOT, FIELDS
from app.domain.entities import ENTITIES, camel, snake
from schema import schema

#: Model attributes that are not fetched domain fields: identity, links set by the loaders,
#: and the record's own bookkeeping.
STRUCTURE = {"id", "player_id", "external_refs", "problems", "custom", "requester_email"}
STRUCTURE |= {"requester_external_id"}


@pytest.mark.parametrize("key", list(ENTITIES))
def test_every_field_of_the_graphql_type_is_a_declared_field_or_derived(key: str) -> None:
    entity = ENTITIES[key]
    type_ = schema._schema.type_map[entity.type_name]
    assert isinstance(type_, GraphQLObjectType)
    declared = {f.graphql_name for f in entity.shown} | set(entity.derived)
    assert set(type_.fields) == declared


@pytest.mark.parametrize("key", list(ENTITIES))
def test_every_model_attribute_is_declared_or_structure(key: str) -> None:
    entity = ENTITIES[key]
    undeclared = {f.name for f in dataclasses.fields(entity.model)} - set(entity.fields)
    assert undeclared <= STRUCTURE


def test_the_cache_groups_are_read_from_the_registry() -> None:
    for key, entity in ENTITIES.items():
        assert FIELDS[key] == set(entity.fields)
        assert DEFAULT_HOT[key] == {f.name for f in entity.fields.values() if f.hot}
        assert ALWAYS[key] == {f.name for f in entity.fields.values() if f.attr.always}


def test_a_field_hidden_from_the_schema_is_fetched_for_its_relation() -> None:
    customer = ENTITIES["customer"]
    assert "player_id" in customer.needs("playerStats")
    assert not customer.fields["player_id"].attr.graphql


def test_a_plain_field_needs_itself_and_a_derived_one_what_it_is_made_of() -> None:
    player = ENTITIES["player"]
    assert player.needs("pointsBalance") == ("points_balance",)
    assert player.needs("ngr") == ("bets_total", "wins_total", "bonus_total")


def test_roles_govern_every_entity_type_and_tags_drive_the_defaults() -> None:
    assert set(GOVERNED) == {e.type_name for e in ENTITIES.values()} | {"Query"}
    policy = Policy(DEFAULT_ROLES)
    assert not policy.may_read(("analyst",), "Customer", "email")  # personal
    assert not policy.may_read(("marketing",), "PlayerStats", "ggr")  # money, derived
    assert policy.may_read(("marketing",), "PlayerStats", "level")


@pytest.mark.parametrize("name", ["lifecycle_stage", "points_ever", "brand", "a_b_c"])
def test_camel_and_snake_are_inverse(name: str) -> None:
    assert snake(camel(name)) == name
