"""How the REST API reads a JSON value into a typed field (checkbox, number, date/time).

Text fields take any scalar (see ``store._coerce``); these take only what their type reads:
a checkbox ``true``/``false`` (or that text; null is false), a number a JSON number or numeric
text, a date/time an ISO-8601 instant. What the JSON reader cannot turn into the type is a
``JSON_PARSER_ERROR``; a value of another JSON kind the reader takes but the field refuses (a
boolean for a number, a fraction for an integer) is ``INVALID_TYPE_ON_FIELD_IN_RECORD``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

#: Field types read by this module (``FieldType`` values).
TYPED = frozenset({"boolean", "int", "double", "currency", "datetime"})
_JAVA = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "datetime": "datetime",
}
_INSTANT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$"
)
#: (errorCode, message) of a refused value.
Refusal = tuple[str, str]


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "START_ARRAY" if isinstance(value, list) else "VALUE_STRING"


def _parser_error(kind: str, value: Any) -> Refusal:
    shown = f" value {value}" if isinstance(value, str) else ""
    return (
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {_JAVA[kind]} from {_token(value)}{shown} or request "
        "may be missing a required field",
    )


def _wrong_type(label: str, value: Any) -> Refusal:
    shown = str(value).lower() if isinstance(value, bool) else value
    return "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {shown}"


def parse_instant(text: str) -> datetime | None:
    """An ISO-8601 date or instant (``Z``, ``+hh:mm`` or ``+hhmm``; none means UTC)."""
    match = _INSTANT.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, millis, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((millis or "0").ljust(3, "0")) * 1000,
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        moment -= timedelta(minutes=offset)
    return moment


def read_typed(kind: str, label: str, value: Any) -> Any | Refusal:
    """The stored value of ``value`` written to a field of type ``kind``, or its refusal."""
    if isinstance(value, dict | list):
        return _parser_error(kind, value)
    if kind == "boolean":
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return _parser_error(kind, value) if isinstance(value, str) else _wrong_type(label, value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return _wrong_type(label, value)
    if kind == "datetime":
        moment = parse_instant(value) if isinstance(value, str) else None
        return _parser_error(kind, value) if moment is None else moment
    if isinstance(value, str):
        try:
            value = float(value) if kind != "int" else int(value)
        except ValueError:
            return _parser_error(kind, value)
    number = float(value)
    if not math.isfinite(number):
        return _parser_error(kind, str(value))
    if kind == "int":
        if not number.is_integer() or abs(number) >= 2**31:
            return _wrong_type(label, value)
        return int(number)
    return number


def is_refusal(value: Any) -> bool:
    return isinstance(value, tuple)
