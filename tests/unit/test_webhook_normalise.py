"""Vendor events to changes: the shape checked at intake, and each event's change."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import Settings
from app.demo import demo_settings
from app.webhooks.dialect import Malformed, Poisoned
from app.webhooks.normalise import Normaliser, split
from app.webhooks.store import StoredEvent


@pytest.fixture(scope="module")
def normaliser() -> Normaliser:
    settings: Settings = demo_settings("http://127.0.0.1:9")
    return Normaliser(settings)


def stored(kind: str, payload: dict[str, Any], event_id: str = "x:1") -> StoredEvent:
    return StoredEvent("whk_1", event_id, kind, payload, received_at=1_795_917_600.0)


def test_a_hubspot_array_is_split_into_events_keyed_by_event_id() -> None:
    events = split(
        "hubspot",
        "hubspot",
        [
            {"eventId": 7, "subscriptionType": "contact.creation", "objectId": 1001},
            {"eventId": "8", "subscriptionType": "contact.propertyChange", "objectId": 1001},
        ],
    )
    assert [(e.event_id, e.kind) for e in events] == [
        ("hubspot:7", "hubspot"),
        ("hubspot:8", "hubspot"),
    ]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("hubspot", {"eventId": 1}),
        ("hubspot", [1]),
        ("hubspot", [{"eventId": True, "subscriptionType": "contact.creation", "objectId": 1}]),
        ("hubspot", [{"eventId": 1, "subscriptionType": "contact.creation"}]),
        ("zendesk", {"id": "", "type": "zen:event-type:ticket.created"}),
        ("zendesk", "text"),
        ("players", {"id": "evt_1", "type": "player.created", "player_id": "p-1"}),
    ],
)
def test_a_wrong_shape_is_malformed(kind: str, body: Any) -> None:
    with pytest.raises(Malformed):
        split(kind, kind, body)


def test_a_hubspot_property_change_names_the_customer_field(normaliser: Normaliser) -> None:
    change = normaliser.change(
        stored(
            "hubspot",
            {
                "eventId": 7,
                "subscriptionType": "contact.propertyChange",
                "objectId": 1001,
                "propertyName": "firstname",
                "propertyValue": "Ada",
                "occurredAt": 1_795_917_600_000,
            },
            "hubspot:7",
        )
    )
    assert (change.entity, change.id, change.brand) == ("customer", "hubspot:1001", None)
    assert (change.fields, change.values, change.occurred_at) == (
        ("first_name",),
        {"first_name": "Ada"},
        1_795_917_600.0,
    )


def test_a_hubspot_brand_change_carries_the_brand(normaliser: Normaliser) -> None:
    change = normaliser.change(
        stored(
            "hubspot",
            {
                "subscriptionType": "contact.propertyChange",
                "objectId": 1001,
                "propertyName": "brand",
                "propertyValue": "goldcoast",
                "occurredAt": 1,
            },
        )
    )
    assert change.brand == "goldcoast"


def test_a_zendesk_ticket_event_maps_its_brand_and_field(normaliser: Normaliser) -> None:
    change = normaliser.change(
        stored(
            "zendesk",
            {
                "id": "u-1",
                "type": "zen:event-type:ticket.priority_changed",
                "subject": "zen:ticket:42",
                "time": "2026-11-29T02:00:00Z",
                "detail": {"id": "42", "brand_id": "360002"},
                "event": {"current": "HIGH", "previous": "LOW"},
            },
        )
    )
    assert (change.entity, change.id, change.brand) == ("ticket", "zendesk:42", "goldcoast")
    assert (change.fields, change.values) == (("priority",), {"priority": "HIGH"})


def test_a_player_event_names_its_fields_by_the_player_map(normaliser: Normaliser) -> None:
    change = normaliser.change(
        stored(
            "players",
            {
                "id": "evt_1",
                "type": "player.level.changed",
                "occurred_at": 1_795_917_600_000,
                "brand": "luckyspin",
                "player_id": "p-000001",
                "changes": {"level": 4, "points_balance": 10},
            },
        )
    )
    assert (change.entity, change.source, change.id, change.brand) == (
        "player",
        "players",
        "p-000001",
        "luckyspin",
    )
    assert set(change.fields) == {"level", "level_name", "points_balance"}  # level.id, level.name


def test_a_polled_lead_is_a_lead_change(normaliser: Normaliser) -> None:
    change = normaliser.change(
        stored(
            "salesforce",
            {
                "Id": "00Q000000000001AAA",
                "SystemModstamp": "2026-11-29T02:00:00.123+0000",
                "Brand__c": "northstar",
            },
        )
    )
    assert (change.entity, change.id, change.brand) == (
        "lead",
        "salesforce:00Q000000000001AAA",
        "northstar",
    )
    assert change.occurred_at == pytest.approx(1_795_917_600.123)


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        ("hubspot", {"subscriptionType": "deal.creation", "objectId": 1}, "deal.creation"),
        (
            "hubspot",
            {"subscriptionType": "contact.creation", "objectId": "abc", "occurredAt": 1},
            "objectId",
        ),
        (
            "zendesk",
            {"type": "zen:event-type:user.created", "subject": "zen:user:1"},
            "user.created",
        ),
        (
            "zendesk",
            {
                "type": "zen:event-type:ticket.created",
                "subject": "zen:ticket:1",
                "detail": {"brand_id": "9"},
            },
            "Zendesk brand 9 is not mapped",
        ),
        (
            "zendesk",
            {"type": "zen:event-type:ticket.created", "subject": "zen:ticket:x"},
            "ticket id",
        ),
        (
            "players",
            {"type": "player.deleted", "brand": "luckyspin", "player_id": "p"},
            "player.deleted",
        ),
        (
            "players",
            {"type": "player.created", "brand": "elsewhere", "player_id": "p"},
            "elsewhere",
        ),
        ("salesforce", {"SystemModstamp": "2026-11-29T02:00:00.000+0000"}, "Lead Id"),
        ("other", {}, "no webhook source"),
    ],
)
def test_an_event_that_can_never_be_a_change_is_poisoned(
    normaliser: Normaliser, kind: str, payload: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Poisoned, match=reason):
        normaliser.change(stored(kind, payload))
