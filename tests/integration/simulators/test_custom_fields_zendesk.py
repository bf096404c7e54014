"""Zendesk custom ticket fields over real HTTP: made with ``POST /api/v2/ticket_fields``, then
listed, carried by every ticket, written on create and update, searched with
``custom_field_<id>:``, refused with Zendesk's RecordInvalid, and forgotten by a data reset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.simulators.credentials import ZENDESK_API_TOKEN, ZENDESK_EMAIL
from app.simulators.server import RunningSimulators
from app.simulators.world import World

AUTH = (f"{ZENDESK_EMAIL}/token", ZENDESK_API_TOKEN)
VIP_TIER = {
    "type": "tagger",
    "title": "VIP tier",
    "custom_field_options": [
        {"name": "Gold", "value": "vip_gold"},
        {"name": "Silver", "value": "vip_silver"},
    ],
}


@pytest.fixture
async def zendesk(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client; data and custom fields are reset afterwards."""
    async with httpx.AsyncClient(
        base_url=simulators.url("/zendesk"), auth=AUTH, timeout=30
    ) as client:
        yield client
    (await control.post("/zendesk/__reset", params={"data": "true"})).raise_for_status()


async def make(client: httpx.AsyncClient, field: dict[str, Any]) -> int:
    response = await client.post("/api/v2/ticket_fields", json={"ticket_field": field})
    assert response.status_code == 201, response.text
    field_id: int = response.json()["ticket_field"]["id"]
    return field_id


async def new_ticket(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {"ticket": {"subject": "VIP", "comment": {"body": "Hello"}, **extra}}
    response = await client.post("/api/v2/tickets", json=body)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()["ticket"]
    return ticket


def value_of(ticket: dict[str, Any], field_id: int) -> Any:
    (entry,) = [e for e in ticket["custom_fields"] if e["id"] == field_id]
    return entry["value"]


def open_ticket(world: World) -> int:
    return next(t.idx + 1 for t in world.tickets if t.status == "open")


def assert_invalid(response: httpx.Response, key: str) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "RecordInvalid"
    assert body["description"] == "Record validation errors"
    details: list[dict[str, Any]] = body["details"][key]
    assert details[0]["description"]
    return details


async def search_ids(client: httpx.AsyncClient, query: str) -> set[int]:
    answer = await client.get("/api/v2/search", params={"query": f"type:ticket {query}"})
    assert answer.status_code == 200, answer.text
    return {r["id"] for r in answer.json()["results"]}


async def test_creating_a_field_answers_201_with_its_id_and_options(
    zendesk: httpx.AsyncClient,
) -> None:
    response = await zendesk.post("/api/v2/ticket_fields", json={"ticket_field": VIP_TIER})
    assert response.status_code == 201
    made = response.json()["ticket_field"]
    assert isinstance(made["id"], int)
    assert (made["type"], made["title"], made["removable"]) == ("tagger", "VIP tier", True)
    assert [o["value"] for o in made["custom_field_options"]] == ["vip_gold", "vip_silver"]


async def test_a_made_field_is_listed_after_the_system_fields(zendesk: httpx.AsyncClient) -> None:
    field_id = await make(zendesk, VIP_TIER)
    listed = (await zendesk.get("/api/v2/ticket_fields")).json()
    assert listed["ticket_fields"][-1]["id"] == field_id
    assert listed["count"] == len(listed["ticket_fields"])
    shown = (await zendesk.get(f"/api/v2/ticket_fields/{field_id}")).json()["ticket_field"]
    assert shown["title"] == "VIP tier"


async def test_every_ticket_carries_the_field_unset(zendesk: httpx.AsyncClient) -> None:
    field_id = await make(zendesk, VIP_TIER)
    ticket = (await zendesk.get("/api/v2/tickets/1")).json()["ticket"]
    assert ticket["custom_fields"] == [{"id": field_id, "value": None}]
    assert ticket["fields"] == ticket["custom_fields"]


async def test_a_ticket_created_with_a_value_reads_it_back(zendesk: httpx.AsyncClient) -> None:
    field_id = await make(zendesk, VIP_TIER)
    created = await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": "vip_gold"}])
    read = (await zendesk.get(f"/api/v2/tickets/{created['id']}")).json()["ticket"]
    assert value_of(read, field_id) == "vip_gold"
    assert "vip_gold" in read["tags"]


async def test_an_update_writes_the_value_and_swaps_its_tag(
    zendesk: httpx.AsyncClient, world: World
) -> None:
    field_id = await make(zendesk, VIP_TIER)
    ticket_id = open_ticket(world)
    for value in ("vip_gold", "vip_silver"):
        body = {"ticket": {"custom_fields": [{"id": field_id, "value": value}]}}
        answer = await zendesk.put(f"/api/v2/tickets/{ticket_id}", json=body)
        assert answer.status_code == 200, answer.text
    ticket = answer.json()["ticket"]
    assert value_of(ticket, field_id) == "vip_silver"
    assert "vip_silver" in ticket["tags"]
    assert "vip_gold" not in ticket["tags"]


async def test_a_tagger_value_outside_its_options_is_record_invalid(
    zendesk: httpx.AsyncClient,
) -> None:
    field_id = await make(zendesk, VIP_TIER)
    custom = [{"id": field_id, "value": "vip_bronze"}]
    body = {"ticket": {"subject": "x", "comment": {"body": "y"}, "custom_fields": custom}}
    response = await zendesk.post("/api/v2/tickets", json=body)
    details = assert_invalid(response, "base")
    assert details[0]["field_key"] == field_id


async def test_an_integer_field_refuses_text(zendesk: httpx.AsyncClient, world: World) -> None:
    field_id = await make(zendesk, {"type": "integer", "title": "Deposits"})
    ticket_id = open_ticket(world)
    ok = await zendesk.put(
        f"/api/v2/tickets/{ticket_id}",
        json={"ticket": {"custom_fields": [{"id": field_id, "value": 12}]}},
    )
    assert value_of(ok.json()["ticket"], field_id) == "12"
    bad = await zendesk.put(
        f"/api/v2/tickets/{ticket_id}",
        json={"ticket": {"custom_fields": [{"id": field_id, "value": "many"}]}},
    )
    assert_invalid(bad, "base")


async def test_a_checkbox_reads_as_a_boolean(zendesk: httpx.AsyncClient) -> None:
    field_id = await make(zendesk, {"type": "checkbox", "title": "VIP", "tag": "is_vip"})
    created = await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": True}])
    assert value_of(created, field_id) is True
    assert "is_vip" in created["tags"]


async def test_a_field_without_a_title_is_record_invalid(zendesk: httpx.AsyncClient) -> None:
    response = await zendesk.post("/api/v2/ticket_fields", json={"ticket_field": {"type": "text"}})
    assert_invalid(response, "title")


async def test_a_tagger_without_options_is_record_invalid(zendesk: httpx.AsyncClient) -> None:
    field = {"type": "tagger", "title": "Tier"}
    response = await zendesk.post("/api/v2/ticket_fields", json={"ticket_field": field})
    assert_invalid(response, "custom_field_options")


async def test_a_field_without_a_type_is_a_text_field(zendesk: httpx.AsyncClient) -> None:
    response = await zendesk.post("/api/v2/ticket_fields", json={"ticket_field": {"title": "Note"}})
    assert response.status_code == 201, response.text
    assert response.json()["ticket_field"]["type"] == "text"


async def test_an_option_tag_another_field_uses_is_record_invalid(
    zendesk: httpx.AsyncClient,
) -> None:
    await make(zendesk, VIP_TIER)
    again = {**VIP_TIER, "title": "Tier again"}
    response = await zendesk.post("/api/v2/ticket_fields", json={"ticket_field": again})
    assert_invalid(response, "custom_field_options")


async def test_a_null_value_clears_the_field_and_its_tag(zendesk: httpx.AsyncClient) -> None:
    field_id = await make(zendesk, VIP_TIER)
    created = await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": "vip_gold"}])
    body = {"ticket": {"custom_fields": [{"id": field_id, "value": None}]}}
    answer = await zendesk.put(f"/api/v2/tickets/{created['id']}", json=body)
    ticket = answer.json()["ticket"]
    assert value_of(ticket, field_id) is None
    assert "vip_gold" not in ticket["tags"]


async def test_search_finds_tickets_by_custom_field_value(zendesk: httpx.AsyncClient) -> None:
    field_id = await make(zendesk, VIP_TIER)
    gold = await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": "vip_gold"}])
    await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": "vip_silver"}])
    assert await search_ids(zendesk, f"custom_field_{field_id}:vip_gold") == {gold["id"]}


async def test_search_excludes_by_custom_field_value(zendesk: httpx.AsyncClient) -> None:
    field_id = await make(zendesk, {"type": "text", "title": "Nickname"})
    ace = await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": "Ace"}])
    duke = await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": "Duke"}])
    found = await search_ids(zendesk, f"custom_field_{field_id}:* -custom_field_{field_id}:ace")
    assert found == {duke["id"]}
    assert ace["id"] not in found


async def test_search_export_finds_tickets_by_custom_field_value(
    zendesk: httpx.AsyncClient,
) -> None:
    field_id = await make(zendesk, VIP_TIER)
    gold = await new_ticket(zendesk, custom_fields=[{"id": field_id, "value": "vip_gold"}])
    answer = await zendesk.get(
        "/api/v2/search/export",
        params={"query": f"custom_field_{field_id}:vip_gold", "filter[type]": "ticket"},
    )
    assert answer.status_code == 200, answer.text
    assert [r["id"] for r in answer.json()["results"]] == [gold["id"]]


async def test_a_data_reset_forgets_the_fields(
    zendesk: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    await make(zendesk, VIP_TIER)
    (await control.post("/zendesk/__reset", params={"data": "true"})).raise_for_status()
    listed = (await zendesk.get("/api/v2/ticket_fields")).json()["ticket_fields"]
    assert all(not f["removable"] for f in listed)
    ticket = (await zendesk.get("/api/v2/tickets/1")).json()["ticket"]
    assert ticket["custom_fields"] == []
