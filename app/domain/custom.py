"""Custom fields: an org's own fields, declared in the config and served like built-in ones.

A custom field has a GraphQL name (``vipTier``), a ``path`` in the CRM's record (a property,
a column, or a dotted path into the JSON the CRM sends), and a type::

    String | Int | Float | Boolean | DateTime | Money | Enum[GOLD, SILVER, BRONZE]

:class:`FieldType` reads the type, turns the CRM's value into the domain's (``read``) and the
domain's back into what the CRM takes (``write``). An ``Enum`` member is its name in the
schema; ``values`` maps a member to the CRM's own value where they differ (``GOLD: "Gold
tier"``); the CRM's value is matched without regard to case. ``Money`` is a decimal amount in
the CRM, in one ``currency``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.domain.money import Money
from app.mapping import converters as c
from app.mapping.converters import ConversionError

SCALARS: dict[str, type] = {
    "String": str,
    "Int": int,
    "Float": float,
    "Boolean": bool,
    "DateTime": datetime,
    "Money": Money,
}
_ENUM = re.compile(r"^Enum\[(.*)\]$")
_MEMBER = re.compile(r"^[A-Z][A-Z0-9_]*$")
#: A field's GraphQL name: a lower-camel identifier.
NAME = re.compile(r"^[a-z][A-Za-z0-9]*$")


@dataclass(frozen=True, slots=True)
class FieldType:
    """A custom field's type: a scalar, or an enum with its members."""

    name: str
    members: tuple[str, ...] = ()
    #: Enum member → the CRM's value (only where it differs from the member's name).
    values: Mapping[str, str] = field(default_factory=dict)
    #: Money: the ISO 4217 currency of the CRM's amounts.
    currency: str | None = None

    @classmethod
    def parse(
        cls, text: str, values: Mapping[str, str] | None = None, currency: str | None = None
    ) -> FieldType:
        """The type ``text`` names; ValueError saying what is accepted."""
        text = text.strip()
        values = dict(values or {})
        enum = _ENUM.match(text)
        if enum is not None:
            members = tuple(m.strip() for m in enum.group(1).split(",") if m.strip())
            if not members:
                raise ValueError("an Enum needs at least one member: Enum[GOLD, SILVER]")
            bad = [m for m in members if not _MEMBER.match(m)]
            if bad:
                raise ValueError(
                    f"enum members are upper-case names (A-Z, 0-9, _): not {', '.join(bad)}"
                )
            if len(set(members)) != len(members):
                raise ValueError("an Enum names each member once")
            unknown = sorted(set(values) - set(members))
            if unknown:
                raise ValueError(f"values names no member: {', '.join(unknown)}")
            return cls("Enum", members, values)
        if text not in SCALARS:
            raise ValueError(
                f"unknown type {text!r}: String, Int, Float, Boolean, DateTime, Money, or "
                "Enum[A, B, ...]"
            )
        if values:
            raise ValueError("values is for an Enum type only")
        if text == "Money":
            if currency is None or not re.fullmatch(r"[A-Z]{3}", currency):
                raise ValueError("a Money field needs its ISO 4217 currency, e.g. currency: EUR")
            return cls("Money", currency=currency)
        if currency is not None:
            raise ValueError("currency is for a Money type only")
        return cls(text)

    @property
    def python(self) -> type:
        """The domain value's type (an enum member is carried as its name)."""
        return str if self.name == "Enum" else SCALARS[self.name]

    def wire_value(self, member: str) -> str:
        return self.values.get(member, member)

    def read(self, value: Any) -> Any:
        """The domain value of the CRM's ``value`` (None: no value); ConversionError."""
        if self.name == "String":
            return c.text(value)
        if self.name == "Int":
            return c.integer(value)
        if self.name == "Float":
            return c.number(value)
        if self.name == "Boolean":
            return c.boolean(value)
        if self.name == "DateTime":
            return c.hubspot_datetime(value)
        if self.name == "Money":
            return self._money(value)
        return self._member(value)

    def write(self, value: Any) -> Any:
        """What the CRM is sent for the domain ``value``."""
        if value is None:
            return None
        if self.name == "DateTime":
            assert isinstance(value, datetime)
            return value.isoformat().replace("+00:00", "Z")
        if self.name == "Money":
            assert isinstance(value, Money)
            return str(value.amount)
        if self.name == "Enum":
            return self.wire_value(str(value))
        return value

    def _money(self, value: Any) -> Money | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise ConversionError(f"expected an amount, got {value!r}")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ConversionError(f"expected an amount, got {value!r}") from exc
        if not amount.is_finite():
            raise ConversionError(f"expected an amount, got {value!r}")
        assert self.currency is not None
        return Money(amount, self.currency)

    def _member(self, value: Any) -> str | None:
        raw = c.text(value)
        if raw is None:
            return None
        wanted = raw.casefold()
        for member in self.members:
            if self.wire_value(member).casefold() == wanted:
                return member
        raise ConversionError(f"{raw!r} is none of {', '.join(self.members)}")


@dataclass(frozen=True, slots=True)
class CustomFieldSpec:
    """A custom field of one entity, as the registry and the connectors see it."""

    name: str
    path: str
    type: FieldType
    hot: bool = False
    filterable: bool = False
    writable: bool = False
    #: The roles that may read it (None: every role that may read the type).
    roles: tuple[str, ...] | None = None
    description: str | None = None
