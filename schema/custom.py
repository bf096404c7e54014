"""The config's custom fields in one built schema (:mod:`app.domain.custom`).

Strawberry's types are declared once, in code; a config's custom fields differ per
deployment. So each is added to the built GraphQL schema of one gateway (its own copy: two
gateways in one process never share one): a field on the entity's type (``Customer.vipTier``,
read like any plain field), an enum type for an ``Enum`` field (``CustomerVipTier``), and —
where declared — a typed ``custom`` input in the entity's list filter (``filterable``) and in
its create and update inputs (``writable``). The Strawberry inputs carry ``custom`` as an
untyped placeholder that this module types, or removes when nothing is filterable or
writable: graphql-core coerces the value by the typed input and the resolvers receive a dict
of custom field names to domain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLFloat,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    GraphQLType,
)

from app.domain.custom import CustomFieldSpec
from app.domain.entities import EntitySpec
from schema.common import read_attribute

SCALARS: dict[str, GraphQLType] = {
    "String": GraphQLString,
    "Int": GraphQLInt,
    "Float": GraphQLFloat,
    "Boolean": GraphQLBoolean,
}
#: Each entity's list filter, and its inputs that write (by registry key).
FILTERS = {"customer": "CustomerFilter", "lead": "LeadFilter", "ticket": "TicketFilter"}
INPUTS = {
    "customer": ("UpdateCustomerInput",),
    "lead": ("CreateLeadInput", "UpdateLeadInput"),
    "ticket": ("CreateTicketInput", "UpdateTicketInput"),
}
#: The name of the placeholder input field the Strawberry inputs declare.
PLACEHOLDER = "custom"


def add_custom_fields(graph: GraphQLSchema, entities: Mapping[str, EntitySpec]) -> None:
    """Put every entity's custom fields in ``graph`` (and type or drop the placeholders)."""
    for key, entity in entities.items():
        custom = entity.custom
        owner = graph.type_map[entity.type_name]
        assert isinstance(owner, GraphQLObjectType)
        types = {name: _output_type(graph, entity, spec) for name, spec in custom.items()}
        for name, spec in custom.items():
            owner.fields[name] = GraphQLField(
                types[name], resolve=_read, description=spec.description
            )
        filterable = {n: types[n] for n, s in custom.items() if s.filterable}
        if key in FILTERS:
            _type_placeholder(graph, FILTERS[key], f"{entity.type_name}CustomFilter", filterable)
        writable = {n: types[n] for n, s in custom.items() if s.writable}
        for input_name in INPUTS.get(key, ()):
            _type_placeholder(graph, input_name, f"{entity.type_name}CustomInput", writable)
    # Every placeholder is typed or gone: its untyped scalar is no longer the schema's.
    graph.type_map.pop("JSON", None)


def _read(root: Any, info: Any) -> Any:
    return read_attribute(root, info.field_name)


def _output_type(graph: GraphQLSchema, entity: EntitySpec, spec: CustomFieldSpec) -> Any:
    kind = spec.type.name
    if kind in SCALARS:
        return SCALARS[kind]
    if kind in ("DateTime", "Money"):
        return graph.type_map[kind]
    name = f"{entity.type_name}{spec.name[0].upper()}{spec.name[1:]}"
    if name in graph.type_map:
        raise ValueError(f"custom field {entity.key}.{spec.name}: the type {name} exists")
    enum = GraphQLEnumType(
        name,
        {m: GraphQLEnumValue(m, description=_wire(spec, m)) for m in spec.type.members},
        description=f"The values of {entity.type_name}.{spec.name}.",
    )
    graph.type_map[name] = enum
    return enum


def _wire(spec: CustomFieldSpec, member: str) -> str | None:
    value = spec.type.wire_value(member)
    return None if value == member else f"{value!r} in the CRM"


def _type_placeholder(
    graph: GraphQLSchema, input_name: str, typed_name: str, fields: Mapping[str, Any]
) -> None:
    holder = graph.type_map[input_name]
    assert isinstance(holder, GraphQLInputObjectType)
    if not fields:
        holder.fields.pop(PLACEHOLDER, None)
        return
    if typed_name not in graph.type_map:
        graph.type_map[typed_name] = GraphQLInputObjectType(
            typed_name,
            {name: GraphQLInputField(type_) for name, type_ in fields.items()},
            description="The org's own fields (crmgraph config: entities.<entity>.fields).",
        )
    typed = graph.type_map[typed_name]
    assert isinstance(typed, GraphQLInputObjectType)
    holder.fields[PLACEHOLDER] = GraphQLInputField(typed, description="The org's own fields.")
