"""The plain fields of each entity's GraphQL type, read from the entity registry.

A type declares only what is not a domain field of the same name (its id, relations, derived
figures); the fields a model declares with ``attr(graphql=True)`` are added here, with their
Python types as the schema's: ``Money`` is the ``Money`` object type, ``required`` fields are
non-null.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from app.domain.entities import ENTITIES
from app.domain.money import Money
from schema.common import MoneyType

#: Domain value types that the schema shows as an object type of its own.
OBJECT_TYPES: dict[type, type] = {Money: MoneyType}


def schema_type(python_type: Any, required: bool) -> Any:
    """``X | None`` (the domain's optional value) as the schema shows it."""
    args = typing.get_args(python_type)
    if isinstance(python_type, types.UnionType) or typing.get_origin(python_type) is typing.Union:
        (base,) = (a for a in args if a is not type(None))
    else:
        base = python_type
    base = OBJECT_TYPES.get(base, base)
    return base if required else base | None


def plain_fields(entity: str) -> dict[str, Any]:
    """Annotations for the type of ``entity``: one per shown domain field, in model order."""
    return {f.name: schema_type(f.type, f.attr.required) for f in ENTITIES[entity].shown}
