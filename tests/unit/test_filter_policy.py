"""Every filter a caller can send says which field it reveals, so the roles govern it: a new
filter field cannot be added without saying what reading it through a filter means."""

from __future__ import annotations

from graphql import GraphQLInputObjectType, get_named_type, is_input_object_type, is_object_type

from app.auth.policy import DEFAULT_ROLES, FILTER_REVEALS, Policy
from schema import schema

GRAPH = schema._schema


def filter_inputs() -> dict[str, GraphQLInputObjectType]:
    """The input types of every argument of every field that reads."""
    found = {}
    for type_ in GRAPH.type_map.values():
        if not is_object_type(type_) or type_ is GRAPH.mutation_type:
            continue
        for field in type_.fields.values():
            for arg in field.args.values():
                named = get_named_type(arg.type)
                if is_input_object_type(named) and named.name != "DateTimeRange":
                    found[named.name] = named
    return found


def test_every_field_of_every_filter_says_what_it_reveals() -> None:
    inputs = filter_inputs()
    assert set(inputs) == set(FILTER_REVEALS)
    for name, input_type in inputs.items():
        assert set(input_type.fields) == set(FILTER_REVEALS[name]), name


def test_what_a_filter_reveals_is_a_field_of_the_schema() -> None:
    for fields in FILTER_REVEALS.values():
        for type_name, field in fields.values():
            type_ = GRAPH.type_map[type_name]
            assert is_object_type(type_)
            assert field in type_.fields, f"{type_name}.{field}"


def test_a_role_may_filter_by_exactly_what_it_may_read() -> None:
    policy = Policy(DEFAULT_ROLES)
    assert policy.unreadable_filter(("analyst",), "LeadFilter", "email") == ("Lead", "email")
    assert policy.unreadable_filter(("analyst",), "TicketFilter", "requesterEmail") == (
        "Customer",
        "email",
    )
    assert policy.unreadable_filter(("analyst",), "LeadFilter", "company") is None
    assert policy.unreadable_filter(("marketing",), "LeadFilter", "email") is None
    assert policy.unreadable_filter(("analyst", "marketing"), "LeadFilter", "email") is None
    assert policy.unreadable_filter(("support",), "CustomerFilter", "company") == (
        "Customer",
        "company",
    )
