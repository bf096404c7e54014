"""The shape of a GraphQL answer, to compare two answers of one query from different CRMs."""

from __future__ import annotations

from typing import Any


def shape(value: Any) -> Any:
    """An answer's keys all the way down, values left out; a list by the keys of all its
    items together (an empty one: ``[]``, which any list's shape matches)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        merged: Any = []
        for item in value:
            merged = _merge(merged, shape(item))
        return [merged] if value else []
    return None


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a.get(k, []), b.get(k, [])) for k in a.keys() | b.keys()}
    return b if a in ([], None) else a


def same_shape(a: Any, b: Any) -> bool:
    if a == [] or b == [] or a is None or b is None:
        return True  # an empty list, a null object or a value: nothing to compare below
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_shape(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return same_shape(a[0], b[0])
    return a == b
