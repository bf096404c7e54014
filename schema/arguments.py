"""A read field's arguments, checked once before it resolves (``schema.execution``).

Two rules hold for every argument of every field that reads (not for mutations, whose input
is validated as data and answered with ``userErrors``):

- every string a caller sends (filter values, ids, cursors) passes the one check of
  :func:`app.services.inputs.text_problem`, or the field is refused ``BAD_USER_INPUT`` naming
  the argument (``filter.company must not contain control characters``);
- a filter by a field the caller's roles may not read is refused ``FORBIDDEN`` naming the
  argument and what it would reveal (``Policy.reveals``).

Either way no resolver runs, so no upstream call is made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLInputType,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    is_list_type,
)

from app.auth.access import Access
from app.services.inputs import text_problem
from schema.errors import BadUserInput, Forbidden, GatewayError


def refusal(
    field: GraphQLField, args: dict[str, Any], roles: tuple[str, ...], access: Access | None
) -> GatewayError | None:
    """Why ``field`` may not resolve with ``args`` (coerced), or None."""
    if access is not None:
        for argument, input_type, name in _filters(field, args, access.policy.reveals):
            revealed = access.policy.unreadable_filter(roles, input_type, name)
            if revealed is not None:
                type_name, field_name = revealed
                return Forbidden(
                    f"{argument}: {_who(roles)} may not read {type_name}.{field_name}",
                    argument=argument,
                )
    for name, arg in field.args.items():
        value = args.get(arg.out_name or name)
        for argument, text in _strings(name, arg.type, value):
            problem = text_problem(text)
            if problem is not None:
                return BadUserInput(f"{argument} {problem}", argument=argument)
    return None


def _strings(path: str, type_: GraphQLInputType, value: Any) -> Iterator[tuple[str, str]]:
    """Every string in an argument's value, with the dotted path of the argument holding it."""
    if value is None:
        return
    if isinstance(value, str):
        yield path, value
        return
    nullable = get_nullable_type(type_)
    if is_list_type(nullable) and isinstance(value, list):
        for item in value:
            yield from _strings(path, nullable.of_type, item)
    elif is_input_object_type(nullable) and isinstance(value, dict):
        for name, field in nullable.fields.items():
            yield from _strings(f"{path}.{name}", field.type, value.get(field.out_name or name))


def _filters(
    field: GraphQLField, args: dict[str, Any], reveals: Mapping[str, Any]
) -> Iterator[tuple[str, str, str]]:
    """(argument path, filter input type, its field) for every filter field given a value;
    each custom field of a ``custom`` filter is its own (``custom.vipTier``)."""
    for name, arg in field.args.items():
        named = get_named_type(arg.type)
        value = args.get(arg.out_name or name)
        if named.name not in reveals or not is_input_object_type(named):
            continue
        if not isinstance(value, dict):
            continue
        for field_name, input_field in named.fields.items():
            given = value.get(input_field.out_name or field_name)
            if given is None:
                continue
            if field_name == "custom" and isinstance(given, dict):
                for custom in given:
                    yield f"{name}.custom.{custom}", named.name, f"custom.{custom}"
            else:
                yield f"{name}.{field_name}", named.name, field_name


def _who(roles: tuple[str, ...]) -> str:
    if len(roles) == 1:
        return f"the {roles[0]} role"
    return f"the roles {', '.join(roles)}" if roles else "a caller without a role"
