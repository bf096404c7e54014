"""Enum values written out in place (``schema.execution.leaf_output``) answer exactly what
their type's own coercion answers: every member of every enum of the schema, values that are
no member (a raw value, another enum's member), and the error of one it cannot write."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLError

from schema import schema_for
from schema.execution import leaf_output

ENUMS = [
    t
    for t in schema_for({})._schema.type_map.values()
    if isinstance(t, GraphQLEnumType) and not t.name.startswith("__")
]


class Other(Enum):
    OPEN = "open"


def outcome(coerce: Any, value: Any) -> Any:
    try:
        return ("value", coerce(value))
    except (GraphQLError, ValueError, TypeError) as error:
        return ("error", type(error), str(error))


def test_the_schema_has_enums_written_out_in_place() -> None:
    names = {t.name for t in ENUMS}
    assert {"LeadStatus", "TicketStatus", "TicketPriority"} <= names
    assert all(leaf_output(t) != t.coerce_output_value for t in ENUMS)


@pytest.mark.parametrize("enum_type", ENUMS, ids=lambda t: t.name)
def test_each_value_is_written_as_the_types_coercion_writes_it(enum_type: GraphQLEnumType) -> None:
    python_enum = enum_type.wrapped_cls  # type: ignore[attr-defined]
    members = list(python_enum)
    values = [*members, *(m.value for m in members), Other.OPEN, "NOT A VALUE", 3, None]
    output = leaf_output(enum_type)

    for value in values:
        assert outcome(output, value) == outcome(enum_type.coerce_output_value, value), value
    assert [output(m) for m in members] == [enum_type.coerce_output_value(m) for m in members]
