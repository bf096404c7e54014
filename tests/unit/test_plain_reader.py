"""The plain fields of a record read at once (``schema.common.attributes``) give what
``read_attribute`` gives field by field, or nothing (None) whenever a field needs its care, so
that the executor reads that record the ordinary way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.ids import NodeId
from app.domain.models import Customer
from schema.common import attributes, read_attribute
from schema.errors import UnreadableField

NAMES = ["id", "name", "email", "lifecycle_stage", "created_at"]


def customer(**values: Any) -> Customer:
    fields = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    return Customer(id=NodeId("hubspot", "42"), **{**fields, **values})


def test_a_record_reads_as_read_attribute_reads_each_field() -> None:
    record = customer(created_at=datetime(2026, 1, 2, tzinfo=UTC), lifecycle_stage="lead")

    values = attributes(NAMES)(record)

    assert values is not None
    # An id is left as the NodeId: the executor writes it out as read_attribute reads it.
    assert values[0] == record.id
    assert [str(values[0]), *values[1:]] == [read_attribute(record, n) for n in NAMES]


def test_one_field_is_a_tuple_of_one() -> None:
    assert attributes(["email"])(customer()) == ("ada@example.com",)


def test_a_record_with_problems_is_read_field_by_field() -> None:
    record = customer(problems={"created_at": "'last tuesday' is not a date"})

    assert attributes(NAMES)(record) is None
    assert read_attribute(record, "email") == "ada@example.com"
    with pytest.raises(UnreadableField, match="last tuesday"):
        read_attribute(record, "created_at")


def test_a_custom_field_is_read_field_by_field() -> None:
    record = customer(custom={"vip_tier": "gold"})

    assert attributes(["email", "vip_tier"])(record) is None
    assert read_attribute(record, "vip_tier") == "gold"


@dataclass
class Odd:
    ok: str = "fine"

    @property
    def broken(self) -> str:
        raise ValueError("cannot work this out")


def test_a_property_that_raises_is_left_to_the_field_by_field_read() -> None:
    assert attributes(["ok", "broken"])(Odd()) is None
    assert attributes(["ok"])(Odd()) == ("fine",)
