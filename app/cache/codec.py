"""Cache values as bytes: JSON with tagged types, so every value comes back exactly as it went in.

Plain JSON carries ``None``, ``str``, ``int``, ``float``, ``bool``, lists and dicts with
``str`` keys. Everything else the cache holds is a one-key object whose key starts with
``~``::

    {"~t": [...]}                  tuple (so a tuple does not come back as a list)
    {"~dt": "2025-01-02T03:04:05.123456+00:00"}   aware datetime (microseconds kept)
    {"~dec": "12.30"}              Decimal (exponent kept: "12.30" is not "12.3")
    {"~m": ["12.30", "EUR"]}       Money
    {"~e": ["LeadStatus", "NEW"]}  a domain enum member, by a fixed registry of names
    {"~n": ["hubspot", "151"]}     NodeId
    {"~r": ["hubspot", "151"]}     ExternalRef
    {"~o": [["~k", 1]]}            a dict of one key starting with "~" (escaped, as pairs)

A datetime's zone comes back as its fixed UTC offset (every domain datetime is UTC). The
payload starts with a version marker: a payload of another format or version, or one that is
corrupt, is a ``ValueError`` (a cache miss to the caller), and its content is never echoed.
A value of a type not listed is a ``TypeError`` naming the type.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.ids import ExternalRef, NodeId
from app.domain.models import LeadStatus, TicketPriority, TicketStatus
from app.domain.money import Money

#: The first bytes of every payload; a change of format changes the version.
MAGIC = b"cg1:"

#: The enums a payload may name. Decoding looks a name up here and nowhere else.
ENUMS: dict[str, type[enum.Enum]] = {
    "LeadStatus": LeadStatus,
    "TicketStatus": TicketStatus,
    "TicketPriority": TicketPriority,
}
_ENUM_NAMES: dict[type[enum.Enum], str] = {cls: name for name, cls in ENUMS.items()}

_PLAIN = (str, int, float, bool, type(None))


def encode(value: Any) -> bytes:
    """``value`` as bytes for a cache tier; ``TypeError`` for a type the cache does not hold."""
    return MAGIC + json.dumps(_pack(value), separators=(",", ":"), check_circular=False).encode()


def decode(data: bytes) -> Any:
    """The value ``encode`` was given; ``ValueError`` for a corrupt or foreign payload."""
    if not data.startswith(MAGIC):
        raise ValueError("not a crmgraph cache payload (or another version of it)")
    try:
        return json.loads(data[len(MAGIC) :], object_hook=_unpack_object)
    except _Corrupt as exc:
        raise ValueError(f"corrupt cache payload: {exc}") from None
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError) as exc:
        # The exception's text may quote the payload: name only its class.
        raise ValueError(f"corrupt cache payload ({type(exc).__name__})") from None


# --- encoding ------------------------------------------------------------------------------


def _pack(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # exact types: a str or int subclass (e.g. an enum) is not plain
        return value
    if kind is list:
        return [_pack(item) for item in value]
    if kind is dict:
        return _pack_dict(value)
    packer = _PACKERS.get(kind)
    if packer is None:
        raise TypeError(f"the cache cannot hold a value of type {kind.__qualname__}")
    return packer(value)


def _pack_dict(value: dict[Any, Any]) -> Any:
    packed: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            raise TypeError(f"the cache holds dicts with str keys, not {type(key).__qualname__}")
        packed[key] = _pack(item)
    if len(packed) == 1 and next(iter(packed)).startswith("~"):
        return {"~o": [[key, item] for key, item in packed.items()]}
    return packed


def _pack_datetime(value: datetime) -> Any:
    if value.utcoffset() is None:
        raise TypeError("the cache holds aware datetimes only, not a naive datetime")
    return {"~dt": value.isoformat()}


def _pack_enum(value: enum.Enum) -> Any:
    return {"~e": [_ENUM_NAMES[type(value)], value.name]}


_PACKERS: dict[type, Callable[[Any], Any]] = {
    tuple: lambda value: {"~t": [_pack(item) for item in value]},
    datetime: _pack_datetime,
    Decimal: lambda value: {"~dec": str(value)},
    Money: lambda value: {"~m": [str(value.amount), value.currency]},
    NodeId: lambda value: {"~n": [value.source, value.native]},
    ExternalRef: lambda value: {"~r": [value.source, value.id]},
    **dict.fromkeys(ENUMS.values(), _pack_enum),
}


# --- decoding ------------------------------------------------------------------------------


class _Corrupt(Exception):
    """A payload that parses as JSON but is not one this codec wrote."""


def _unpack_object(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj
    ((tag, body),) = obj.items()
    if not tag.startswith("~"):
        return obj
    unpacker = _UNPACKERS.get(tag)
    if unpacker is None:
        raise _Corrupt("unknown tag")
    return unpacker(body)


def _text(body: Any) -> str:
    if type(body) is not str:
        raise _Corrupt("expected a string")
    return body


def _pair(body: Any) -> tuple[str, str]:
    if type(body) is not list or len(body) != 2:
        raise _Corrupt("expected a pair")
    return _text(body[0]), _text(body[1])


def _unpack_tuple(body: Any) -> tuple[Any, ...]:
    if type(body) is not list:
        raise _Corrupt("expected a list")
    return tuple(body)


def _unpack_datetime(body: Any) -> datetime:
    value = datetime.fromisoformat(_text(body))
    if value.tzinfo is None:
        raise _Corrupt("naive datetime")
    return value


def _unpack_decimal(body: Any) -> Decimal:
    return Decimal(_text(body))


def _unpack_money(body: Any) -> Money:
    amount, currency = _pair(body)
    return Money(Decimal(amount), currency)


def _unpack_enum(body: Any) -> enum.Enum:
    name, member = _pair(body)
    cls = ENUMS.get(name)
    if cls is None:
        raise _Corrupt("unknown enum")
    try:
        return cls[member]
    except KeyError:
        raise _Corrupt("unknown enum member") from None


def _unpack_dict(body: Any) -> dict[str, Any]:
    if type(body) is not list:
        raise _Corrupt("expected a list of pairs")
    out: dict[str, Any] = {}
    for pair in body:
        if type(pair) is not list or len(pair) != 2:
            raise _Corrupt("expected a pair")
        out[_text(pair[0])] = pair[1]
    return out


_UNPACKERS: dict[str, Callable[[Any], Any]] = {
    "~t": _unpack_tuple,
    "~dt": _unpack_datetime,
    "~dec": _unpack_decimal,
    "~m": _unpack_money,
    "~e": _unpack_enum,
    "~n": lambda body: NodeId(*_pair(body)),
    "~r": lambda body: ExternalRef(*_pair(body)),
    "~o": _unpack_dict,
}
