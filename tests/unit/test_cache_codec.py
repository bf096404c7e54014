"""The cache codec: every value the cache holds comes back exactly; anything else is refused."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from app.cache.codec import MAGIC, decode, encode
from app.domain.ids import ExternalRef, NodeId
from app.domain.models import Customer, LeadStatus, PlayerStats, TicketPriority, TicketStatus
from app.domain.money import Money


class Foreign(enum.Enum):
    """An enum the codec's registry does not name."""

    A = "NEW"


MOMENT = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def round_trip(value: Any) -> Any:
    return decode(encode(value))


def fields_of(record: Any) -> dict[str, Any]:
    """A record's fields as a dict (not ``asdict``: that would turn ids into dicts)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


@pytest.mark.parametrize(
    "value",
    [None, "", "naïve 🎰 \u2028", 0, -7, 2**70, 0.1, -0.0, 1e300, True, False],
    ids=repr,
)
def test_plain_json_values_round_trip_with_their_type(value: Any) -> None:
    back = round_trip(value)
    assert back == value
    assert type(back) is type(value)


def test_float_nan_round_trips() -> None:
    back = round_trip(float("nan"))
    assert type(back) is float
    assert back != back


def test_aware_datetime_keeps_microseconds_and_utc() -> None:
    back = round_trip(MOMENT)
    assert back == MOMENT
    assert back.microsecond == 891011
    assert back.utcoffset() == timedelta(0)
    assert back.tzinfo is UTC


def test_datetime_keeps_a_fixed_offset() -> None:
    moment = datetime(2025, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    back = round_trip(moment)
    assert back == moment
    assert back.utcoffset() == timedelta(hours=5, minutes=30)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(TypeError, match="naive"):
        encode(datetime(2025, 1, 1))


@pytest.mark.parametrize("text", ["12.30", "0.000", "-0", "1E+3", "123456789012345678901.5"])
def test_decimal_keeps_its_exponent(text: str) -> None:
    back = round_trip(Decimal(text))
    assert type(back) is Decimal
    assert str(back) == text


def test_money_round_trips_exactly() -> None:
    money = Money(Decimal("1234.50"), "EUR")
    back = round_trip(money)
    assert back == money
    assert str(back.amount) == "1234.50"


@pytest.mark.parametrize("member", [*LeadStatus, *TicketStatus, *TicketPriority], ids=repr)
def test_domain_enum_members_round_trip(member: enum.Enum) -> None:
    assert round_trip(member) is member


def test_node_id_and_external_ref_round_trip() -> None:
    value = [NodeId("hubspot", "151"), ExternalRef("zendesk", "u-9")]
    assert round_trip(value) == value


def test_tuples_come_back_as_tuples_and_lists_as_lists() -> None:
    value: tuple[Any, ...] = ([1, (2, [3])], (), [])
    back = round_trip(value)
    assert back == value
    assert type(back) is tuple
    assert type(back[0]) is list
    assert type(back[0][1]) is tuple
    assert type(back[0][1][1]) is list


def test_nested_dicts_round_trip() -> None:
    value = {"a": {"b": [MOMENT, {"c": None}]}, "": 1}
    assert round_trip(value) == value


@pytest.mark.parametrize(
    "value",
    [
        {"~dt": "2025-01-01T00:00:00+00:00"},
        {"~t": [1, 2]},
        {"~": 1},
        {"~unknown": {"~e": ["LeadStatus", "NEW"]}},
        {"~dt": "x", "other": 1},
    ],
    ids=repr,
)
def test_dicts_whose_keys_look_like_tags_stay_dicts(value: dict[str, Any]) -> None:
    back = round_trip(value)
    assert back == value
    assert type(back) is dict


def test_a_whole_customer_field_dict_round_trips() -> None:
    customer = Customer(
        id=NodeId("hubspot", "1001"),
        external_refs=[ExternalRef("hubspot", "1001"), ExternalRef("zendesk", "77")],
        brand="luckyspin",
        first_name="Ana",
        last_name="Ćosić",
        email="ana@example.com",
        phone="+385 1 234 5678",
        company=None,
        lifecycle_stage="customer",
        created_at=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        updated_at=MOMENT,
        player_id="p-000001",
        problems={"phone": "not a phone number"},
    )
    fields = fields_of(customer)
    back = round_trip(fields)
    assert back == fields
    assert Customer(**back) == customer


def test_player_stats_with_money_round_trip() -> None:
    stats = PlayerStats(
        player_id="p-000001",
        brand="goldcoast",
        currency="JPY",
        last_login_at=MOMENT,
        level=7,
        level_name="Gold",
        points_balance=12_345,
        deposits_total=Money(Decimal("150000"), "JPY"),
        bets_total=Money(Decimal("10.000"), "KWD"),
        wins_total=Money(Decimal("4.125"), "KWD"),
        bonus_total=Money(Decimal("0.00"), "EUR"),
        churn_risk=0.125,
        predicted_ltv=None,
    )
    back = PlayerStats(**round_trip(fields_of(stats)))
    assert back == stats
    assert back.ggr == Money(Decimal("5.875"), "KWD")


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({1, 2}, "set"),
        (b"bytes", "bytes"),
        (object(), "object"),
        (frozenset(), "frozenset"),
        (timedelta(1), "timedelta"),
        ({1: "int key"}, "int"),
        ([{"nested": {(1, 2): "tuple key"}}], "tuple"),
        (Foreign.A, "Foreign"),
    ],
    ids=repr,
)
def test_other_types_are_refused_by_name(value: Any, named: str) -> None:
    with pytest.raises(TypeError, match=named):
        encode(value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b'{"a": 1}',  # JSON, but not ours
        b'cg2:{"a": 1}',  # another version
        MAGIC,
        MAGIC + b"{",
        MAGIC + b"\xff\xfe",
        MAGIC + b'{"~zz": 1}',
        MAGIC + b'{"~t": 1}',
        MAGIC + b'{"~m": 5}',
        MAGIC + b'{"~m": ["lots", "EUR"]}',
        MAGIC + b'{"~m": ["1.00", 5]}',
        MAGIC + b'{"~dec": 5}',
        MAGIC + b'{"~dt": "2025-01-01T00:00:00"}',
        MAGIC + b'{"~dt": "yesterday"}',
        MAGIC + b'{"~n": ["hubspot"]}',
        MAGIC + b'{"~o": [["k"]]}',
        MAGIC + b"[" * 100_000,
    ],
    ids=lambda data: repr(data[:40]),
)
def test_corrupt_or_foreign_payloads_are_value_errors(data: bytes) -> None:
    with pytest.raises(ValueError, match="cache payload"):
        decode(data)


@pytest.mark.parametrize(
    "tag",
    [["os.system", "NEW"], ["LeadStatus", "BOGUS"], ["LeadStatus"], ["Money", "EUR"]],
    ids=repr,
)
def test_unknown_enum_tags_are_value_errors(tag: list[str]) -> None:
    with pytest.raises(ValueError, match="cache payload"):
        decode(MAGIC + b'{"~e": ' + repr(tag).replace("'", '"').encode() + b"}")


def test_a_corrupt_payload_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ValueError, match="cache payload") as raised:
        decode(MAGIC + b'{"email": "ana@example.com", ')
    assert "ana@example.com" not in str(raised.value)


def test_a_cache_entry_pair_round_trips() -> None:
    value = ({"status": TicketStatus.OPEN, "priority": TicketPriority.URGENT}, 1_741_000_000.25)
    assert round_trip(value) == value
