"""Reading a vendor event's JSON: the checks every dialect shares.

:func:`vendor_id` and :func:`string` check a delivery at intake (raising
:class:`~app.webhooks.dialect.Malformed`); the others read a stored event in the worker
(raising :class:`~app.webhooks.dialect.Poisoned`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.mapping.fieldmap import FieldMap
from app.webhooks.dialect import Malformed, Poisoned


def vendor_id(event: dict[str, Any], key: str, where: str) -> str:
    """``event[key]``, a vendor's id: a non-empty string or a number."""
    value = event.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise Malformed(f"{where} has no {key!r} (a string or a number)")
    return str(value)


def string(event: dict[str, Any], key: str, where: str) -> str:
    """``event[key]``, a non-empty string."""
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{where} has no {key!r} string")
    return value


def fields_read(fmap: FieldMap, wire_names: Iterable[str]) -> tuple[str, ...]:
    """The domain fields read from any of ``wire_names`` (top-level wire fields)."""
    names = set(wire_names)
    return tuple(
        field
        for field, spec in fmap.fields.items()
        if any(path.split(".")[0] in names for path in spec.reads)
    )


def numeric_id(value: Any, what: str) -> str:
    """``value`` as the digits of a numeric id."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise Poisoned(f"{what} {value!r} is not a numeric id")
    return text


def member(body: dict[str, Any], key: str) -> dict[str, Any]:
    """``body[key]`` when it is an object, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def epoch_ms(value: Any) -> float:
    """Epoch milliseconds as epoch seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Poisoned(f"the event time {value!r} is not epoch milliseconds")
    return float(value) / 1000
