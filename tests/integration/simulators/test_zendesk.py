"""The Zendesk Support simulator over real loopback HTTP, checked against the seeded world."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from app.simulators.credentials import ZENDESK_API_TOKEN, ZENDESK_EMAIL
from app.simulators.world import Person, TicketSeed, World

AUTH = (f"{ZENDESK_EMAIL}/token", ZENDESK_API_TOKEN)
STATUS_ORDER = ("new", "open", "pending", "hold", "solved", "closed")


@pytest.fixture
async def zendesk(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=simulators.url("/zendesk"), auth=AUTH, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def restore(control) -> AsyncIterator[None]:
    """For tests that write: the seeded records come back afterwards."""
    yield
    (await control.post("/zendesk/__reset", params={"data": "true"})).raise_for_status()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(world: World, ticket_id: int) -> TicketSeed:
    return world.tickets[ticket_id - 1]


def tickets_of(world: World, person: Person) -> list[int]:
    return [t.idx + 1 for t in world.tickets if t.requester is person]


def workable_ticket(world: World, status: str = "open") -> int:
    """The id of the first world ticket in ``status`` (closed tickets refuse updates)."""
    return next(t.idx + 1 for t in world.tickets if t.status == status)


def busy_requester(world: World, at_least: int = 3) -> Person:
    counts = Counter(t.requester.idx for t in world.tickets)
    idx = next(i for i, n in sorted(counts.items()) if n >= at_least)
    return world.people[idx]


async def user_of(client: httpx.AsyncClient, person: Person) -> dict:
    answer = await client.get("/api/v2/users/search", params={"query": f"email:{person.email}"})
    (user,) = answer.json()["users"]
    return user


async def search(client: httpx.AsyncClient, query: str, **params) -> dict:
    answer = await client.get("/api/v2/search", params={"query": query, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- authentication ---------------------------------------------------------------------------


async def test_missing_credentials_get_zendesks_401(simulators, control) -> None:
    async with httpx.AsyncClient(base_url=simulators.url("/zendesk")) as anonymous:
        answer = await anonymous.get("/api/v2/tickets/1")
    assert answer.status_code == 401
    assert answer.json() == {"error": "Couldn't authenticate you"}


async def test_a_wrong_api_token_gets_401(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets/1", auth=(f"{ZENDESK_EMAIL}/token", "wrong"))
    assert answer.status_code == 401


async def test_a_password_instead_of_a_token_gets_401(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets/1", auth=(ZENDESK_EMAIL, ZENDESK_API_TOKEN))
    assert answer.status_code == 401


# -- tickets: reads -----------------------------------------------------------------------------


async def test_show_ticket_serves_the_world_ticket(zendesk, world) -> None:
    expected = seed(world, 1)
    ticket = (await zendesk.get("/api/v2/tickets/1")).json()["ticket"]
    requester = await user_of(zendesk, expected.requester)
    assert ticket["id"] == 1
    assert ticket["subject"] == expected.subject
    assert ticket["description"] == expected.description
    assert ticket["status"] == expected.status
    assert ticket.get("priority") == expected.priority
    assert ticket["tags"] == list(expected.tags)
    assert ticket["requester_id"] == requester["id"]
    assert ticket["brand_id"] == expected.requester.brand.zendesk_brand_id
    assert (ticket["created_at"], ticket["updated_at"]) == (
        iso(expected.created_at),
        iso(expected.updated_at),
    )
    assert ticket["url"].endswith("/zendesk/api/v2/tickets/1.json")


async def test_a_ticket_without_priority_leaves_the_field_out(zendesk, world) -> None:
    ticket_id = next(t.idx + 1 for t in world.tickets if t.priority is None)
    ticket = (await zendesk.get(f"/api/v2/tickets/{ticket_id}")).json()["ticket"]
    assert "priority" not in ticket


async def test_new_tickets_are_unassigned_and_others_have_an_agent(zendesk, world) -> None:
    new_id = next(t.idx + 1 for t in world.tickets if t.status == "new")
    open_id = next(t.idx + 1 for t in world.tickets if t.status == "open")
    answer = await zendesk.get("/api/v2/tickets/show_many", params={"ids": f"{new_id},{open_id}"})
    new, opened = answer.json()["tickets"]
    assignee = (await zendesk.get(f"/api/v2/users/{opened['assignee_id']}")).json()["user"]
    assert "assignee_id" not in new
    assert assignee["role"] == "agent"


async def test_unknown_ticket_is_record_not_found(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets/999999")
    assert answer.status_code == 404
    assert answer.json() == {"error": "RecordNotFound", "description": "Not found"}


async def test_a_non_numeric_ticket_id_is_record_not_found(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets/abc")
    assert answer.status_code == 404
    assert answer.json()["error"] == "RecordNotFound"


async def test_a_ticket_id_takes_the_json_suffix(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets/7.json")
    assert answer.json()["ticket"]["id"] == 7


async def test_show_many_keeps_the_order_asked_and_skips_unknown_ids(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets/show_many", params={"ids": "30,999999,2,30"})
    assert [t["id"] for t in answer.json()["tickets"]] == [30, 2]


async def test_show_many_serves_100_ids(zendesk) -> None:
    ids = ",".join(str(i) for i in range(1, 101))
    answer = await zendesk.get("/api/v2/tickets/show_many", params={"ids": ids})
    assert [t["id"] for t in answer.json()["tickets"]] == list(range(1, 101))


async def test_show_many_refuses_more_than_100_ids(zendesk) -> None:
    ids = ",".join(str(i) for i in range(1, 102))
    answer = await zendesk.get("/api/v2/tickets/show_many", params={"ids": ids})
    assert answer.status_code == 400
    assert answer.json()["error"] == "TooManyValues"


# -- tickets: cursor and offset paging -------------------------------------------------------------


async def test_cursor_paging_forward_visits_every_ticket_once(zendesk, world) -> None:
    seen: list[int] = []
    answer = (await zendesk.get("/api/v2/tickets", params={"page[size]": 100})).json()
    while True:
        seen += [t["id"] for t in answer["tickets"]]
        if not answer["meta"]["has_more"]:
            break
        answer = (await zendesk.get(answer["links"]["next"])).json()
    assert seen == list(range(1, len(world.tickets) + 1))


async def test_cursor_paging_backward_returns_the_pages_before(zendesk) -> None:
    first = (await zendesk.get("/api/v2/tickets", params={"page[size]": 30})).json()
    second = (await zendesk.get(first["links"]["next"])).json()
    third = (await zendesk.get(second["links"]["next"])).json()
    back = (await zendesk.get(third["links"]["prev"])).json()
    back_again = (await zendesk.get(back["links"]["prev"])).json()
    assert [t["id"] for t in back["tickets"]] == list(range(31, 61))
    assert [t["id"] for t in back_again["tickets"]] == list(range(1, 31))
    assert back["meta"]["has_more"] is True
    assert back_again["meta"]["has_more"] is False


async def test_cursor_page_names_both_cursors(zendesk) -> None:
    answer = (await zendesk.get("/api/v2/tickets", params={"page[size]": 5})).json()
    assert answer["meta"]["after_cursor"]
    assert answer["meta"]["before_cursor"]
    assert "page%5Bafter%5D=" in answer["links"]["next"]
    assert "page%5Bbefore%5D=" in answer["links"]["prev"]


async def test_page_size_over_100_is_refused(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets", params={"page[size]": 101})
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidPaginationParameter"


async def test_a_garbled_cursor_is_refused(zendesk) -> None:
    params = {"page[size]": 10, "page[after]": "not-a-cursor"}
    answer = await zendesk.get("/api/v2/tickets", params=params)
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidPaginationParameter"


async def test_list_sorts_by_updated_at_descending(zendesk, world) -> None:
    params = {"page[size]": 50, "sort": "-updated_at"}
    first = (await zendesk.get("/api/v2/tickets", params=params)).json()
    second = (await zendesk.get(first["links"]["next"])).json()
    stamps = [t["updated_at"] for t in first["tickets"] + second["tickets"]]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[0] == iso(max(t.updated_at for t in world.tickets))


async def test_list_without_page_size_pages_by_offset(zendesk, world) -> None:
    answer = (await zendesk.get("/api/v2/tickets", params={"per_page": 100, "page": 2})).json()
    assert [t["id"] for t in answer["tickets"]] == list(range(101, 201))
    assert answer["count"] == len(world.tickets)
    assert "page=3" in answer["next_page"]
    assert "page=1" in answer["previous_page"]


async def test_requested_tickets_are_the_requesters_world_tickets(zendesk, world) -> None:
    person = busy_requester(world)
    user = await user_of(zendesk, person)
    answer = await zendesk.get(f"/api/v2/users/{user['id']}/tickets/requested")
    assert [t["id"] for t in answer.json()["tickets"]] == tickets_of(world, person)


async def test_requested_tickets_page_by_cursor(zendesk, world) -> None:
    person = busy_requester(world, at_least=3)
    user = await user_of(zendesk, person)
    path = f"/api/v2/users/{user['id']}/tickets/requested"
    first = (await zendesk.get(path, params={"page[size]": 2})).json()
    rest = (await zendesk.get(first["links"]["next"])).json()
    ids = [t["id"] for t in first["tickets"] + rest["tickets"]]
    assert first["meta"]["has_more"] is True
    assert ids == tickets_of(world, person)[: len(ids)]


async def test_requested_tickets_of_an_unknown_user_are_not_found(zendesk) -> None:
    answer = await zendesk.get("/api/v2/users/12345/tickets/requested")
    assert answer.status_code == 404


# -- tickets: writes ---------------------------------------------------------------------------


async def test_create_ticket_for_a_requester_id(zendesk, world, restore) -> None:
    requester = await user_of(zendesk, world.customers[3])
    payload = {"subject": "Deposit failed", "comment": {"body": "Card declined twice."}}
    answer = await zendesk.post(
        "/api/v2/tickets", json={"ticket": {**payload, "requester_id": requester["id"]}}
    )
    ticket = answer.json()["ticket"]
    assert answer.status_code == 201
    assert answer.headers["Location"] == ticket["url"]
    assert (ticket["requester_id"], ticket["status"], ticket["description"]) == (
        requester["id"],
        "new",
        "Card declined twice.",
    )
    assert ticket["id"] == len(world.tickets) + 1


async def test_create_ticket_with_a_new_requester_creates_an_end_user(zendesk, restore) -> None:
    requester = {"name": "Rita Newcomer", "email": "Rita.Newcomer@Example.com"}
    ticket = {"comment": {"body": "Hello"}, "requester": requester}
    created = (await zendesk.post("/api/v2/tickets", json={"ticket": ticket})).json()["ticket"]
    user = (await zendesk.get(f"/api/v2/users/{created['requester_id']}")).json()["user"]
    assert (user["name"], user["email"], user["role"]) == (
        "Rita Newcomer",
        "rita.newcomer@example.com",
        "end-user",
    )


async def test_create_ticket_with_a_known_requester_email_reuses_the_user(
    zendesk, world, restore
) -> None:
    person = world.customers[5]
    ticket = {"comment": {"body": "Hi"}, "requester": {"name": "X", "email": person.email.upper()}}
    created = (await zendesk.post("/api/v2/tickets", json={"ticket": ticket})).json()["ticket"]
    assert created["requester_id"] == (await user_of(zendesk, person))["id"]


async def test_create_ticket_with_an_assignee_opens_it(zendesk, restore) -> None:
    ticket = {"comment": {"body": "Hi"}, "assignee_email": "olivia.hart@support.crmgraph.test"}
    created = (await zendesk.post("/api/v2/tickets", json={"ticket": ticket})).json()["ticket"]
    assert created["status"] == "open"


async def test_create_ticket_without_a_comment_is_record_invalid(zendesk) -> None:
    answer = await zendesk.post("/api/v2/tickets", json={"ticket": {"subject": "Empty"}})
    assert answer.status_code == 422
    assert answer.json()["details"]["description"][0]["error"] == "BlankValue"


async def test_create_ticket_for_an_unknown_requester_id_is_record_invalid(zendesk) -> None:
    ticket = {"comment": {"body": "Hi"}, "requester_id": 42}
    answer = await zendesk.post("/api/v2/tickets", json={"ticket": ticket})
    assert answer.status_code == 422
    assert answer.json()["details"]["requester"][0]["description"] == "Requester: is invalid"


async def test_malformed_json_is_a_400(zendesk) -> None:
    answer = await zendesk.post(
        "/api/v2/tickets", content=b'{"ticket": {', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidJSON"


async def test_wrongly_typed_fields_are_record_invalid_not_a_crash(zendesk, world) -> None:
    ticket = {"tags": 5, "assignee_id": "x", "comment": 7, "due_at": "soon", "status": None}
    answer = await zendesk.put(f"/api/v2/tickets/{workable_ticket(world)}", json={"ticket": ticket})
    assert answer.status_code == 422
    assert set(answer.json()["details"]) == {"tags", "assignee", "comment", "due_at", "status"}


async def test_update_changes_fields_and_moves_updated_at(zendesk, world, restore) -> None:
    ticket_id = workable_ticket(world)
    before = (await zendesk.get(f"/api/v2/tickets/{ticket_id}")).json()["ticket"]
    changes = {"status": "pending", "priority": "urgent", "subject": "Still waiting"}
    answer = await zendesk.put(f"/api/v2/tickets/{ticket_id}", json={"ticket": changes})
    after = answer.json()["ticket"]
    assert {k: after[k] for k in changes} == changes
    assert after["updated_at"] > before["updated_at"]


async def test_update_with_a_comment_records_it_in_the_audit(zendesk, world, restore) -> None:
    ticket_id = workable_ticket(world, "pending")
    comment = {"body": "We have escalated this.", "public": False}
    answer = await zendesk.put(
        f"/api/v2/tickets/{ticket_id}", json={"ticket": {"comment": comment}}
    )
    (event,) = answer.json()["audit"]["events"]
    assert (event["type"], event["body"], event["public"]) == ("Comment", comment["body"], False)


async def test_update_replaces_the_tags(zendesk, world, restore) -> None:
    tags = {"tags": ["VIP", "urgent vip"]}
    answer = await zendesk.put(f"/api/v2/tickets/{workable_ticket(world)}", json={"ticket": tags})
    assert answer.json()["ticket"]["tags"] == ["vip", "urgent"]


async def test_update_with_an_invalid_status_is_record_invalid(zendesk, world) -> None:
    path = f"/api/v2/tickets/{workable_ticket(world)}"
    answer = await zendesk.put(path, json={"ticket": {"status": "archived"}})
    assert answer.status_code == 422
    assert answer.json()["error"] == "RecordInvalid"
    assert answer.json()["details"]["status"][0]["error"] == "InvalidValue"


async def test_a_closed_ticket_cannot_be_updated(zendesk, world) -> None:
    ticket_id = workable_ticket(world, "closed")
    answer = await zendesk.put(f"/api/v2/tickets/{ticket_id}", json={"ticket": {"status": "open"}})
    assert answer.status_code == 422
    assert answer.json()["details"]["status"][0]["description"] == (
        "Status: closed prevents ticket update"
    )


async def test_updating_an_unknown_ticket_is_record_not_found(zendesk) -> None:
    answer = await zendesk.put("/api/v2/tickets/999999", json={"ticket": {"status": "open"}})
    assert answer.status_code == 404


async def test_safe_update_with_a_stale_stamp_is_a_conflict(zendesk, world) -> None:
    ticket_id = workable_ticket(world, "hold")
    ticket = {"status": "open", "safe_update": True, "updated_stamp": "2001-01-01T00:00:00Z"}
    answer = await zendesk.put(f"/api/v2/tickets/{ticket_id}", json={"ticket": ticket})
    assert answer.status_code == 409
    assert answer.json()["error"] == "UpdateConflict"


async def test_a_created_ticket_is_searchable_and_listed_as_requested(zendesk, world, restore):
    person = world.customers[8]
    ticket = {"comment": {"body": "Hi"}, "requester": {"email": person.email}, "tags": ["fresh"]}
    created = (await zendesk.post("/api/v2/tickets", json={"ticket": ticket})).json()["ticket"]
    found = await search(zendesk, "type:ticket tags:fresh")
    requested = await zendesk.get(f"/api/v2/users/{created['requester_id']}/tickets/requested")
    assert [r["id"] for r in found["results"]] == [created["id"]]
    assert requested.json()["tickets"][-1]["id"] == created["id"]


# -- bulk creation and job statuses ---------------------------------------------------------------


async def test_create_many_answers_a_queued_job_status(zendesk, restore) -> None:
    tickets = [{"comment": {"body": f"Bulk {n}"}} for n in range(3)]
    answer = await zendesk.post("/api/v2/tickets/create_many", json={"tickets": tickets})
    job = answer.json()["job_status"]
    assert answer.status_code == 200
    assert (job["status"], job["total"], job["results"]) == ("queued", 3, None)
    assert job["url"].endswith(f"/api/v2/job_statuses/{job['id']}.json")


async def test_a_job_status_completes_with_a_result_per_ticket(zendesk, restore) -> None:
    tickets = [{"comment": {"body": "One"}}, {"subject": "no body"}, {"comment": {"body": "Two"}}]
    queued = await zendesk.post("/api/v2/tickets/create_many", json={"tickets": tickets})
    job = (await zendesk.get(queued.json()["job_status"]["url"])).json()["job_status"]
    created = [r for r in job["results"] if "id" in r]
    shown = await zendesk.get(
        "/api/v2/tickets/show_many", params={"ids": ",".join(str(r["id"]) for r in created)}
    )
    assert (job["status"], job["progress"]) == ("completed", 3)
    assert [r["index"] for r in created] == [0, 2]
    assert job["results"][1]["success"] is False
    assert [t["description"] for t in shown.json()["tickets"]] == ["One", "Two"]


async def test_create_many_refuses_more_than_100_tickets(zendesk) -> None:
    tickets = [{"comment": {"body": "x"}}] * 101
    answer = await zendesk.post("/api/v2/tickets/create_many", json={"tickets": tickets})
    assert answer.status_code == 400
    assert answer.json()["error"] == "TooManyValues"


async def test_an_unknown_job_status_is_record_not_found(zendesk) -> None:
    answer = await zendesk.get("/api/v2/job_statuses/0123456789abcdef")
    assert answer.status_code == 404


# -- users ---------------------------------------------------------------------------------------


async def test_show_user_serves_the_world_customer(zendesk, world) -> None:
    person = next(p for p in world.customers if p.phone is not None)
    found = await user_of(zendesk, person)
    user = (await zendesk.get(f"/api/v2/users/{found['id']}")).json()["user"]
    assert (user["name"], user["email"], user["phone"], user["role"]) == (
        person.name,
        person.email,
        person.phone,
        "end-user",
    )
    assert user["external_id"] == person.hubspot_id
    assert user["created_at"] == iso(person.created_at)


async def test_every_customer_is_an_end_user_with_a_distinct_id(zendesk, world) -> None:
    ids: set[int] = set()
    customers = world.customers
    for start in range(0, len(customers), 100):
        chunk = ",".join(p.hubspot_id or "" for p in customers[start : start + 100])
        answer = await zendesk.get("/api/v2/users/show_many", params={"external_ids": chunk})
        ids |= {u["id"] for u in answer.json()["users"] if u["role"] == "end-user"}
    assert len(ids) == len(customers)


async def test_the_api_user_is_an_admin_agent(zendesk) -> None:
    me = (await zendesk.get("/api/v2/users/me")).json()["user"]
    assert (me["email"], me["role"]) == (ZENDESK_EMAIL, "admin")


async def test_an_unknown_user_is_record_not_found(zendesk) -> None:
    answer = await zendesk.get("/api/v2/users/1")
    assert answer.status_code == 404
    assert answer.json()["error"] == "RecordNotFound"


async def test_show_many_users_by_ids(zendesk, world) -> None:
    first, second = [await user_of(zendesk, p) for p in world.customers[:2]]
    ids = f"{second['id']},1,{first['id']}"
    answer = await zendesk.get("/api/v2/users/show_many", params={"ids": ids})
    assert [u["id"] for u in answer.json()["users"]] == [second["id"], first["id"]]


async def test_show_many_users_refuses_more_than_100_external_ids(zendesk) -> None:
    external_ids = ",".join(str(1001 + i) for i in range(101))
    answer = await zendesk.get("/api/v2/users/show_many", params={"external_ids": external_ids})
    assert answer.status_code == 400
    assert answer.json()["error"] == "TooManyValues"


async def test_user_search_by_plain_email(zendesk, world) -> None:
    person = world.customers[12]
    answer = await zendesk.get("/api/v2/users/search", params={"query": person.email})
    assert [u["email"] for u in answer.json()["users"]] == [person.email]


async def test_user_search_by_external_id(zendesk, world) -> None:
    person = world.customers[13]
    answer = await zendesk.get("/api/v2/users/search", params={"external_id": person.hubspot_id})
    assert [u["email"] for u in answer.json()["users"]] == [person.email]


async def test_user_search_for_an_unknown_email_is_empty(zendesk) -> None:
    answer = await zendesk.get(
        "/api/v2/users/search", params={"query": "email:nobody@nowhere.test"}
    )
    assert answer.json()["users"] == []
    assert answer.json()["count"] == 0


# -- search ---------------------------------------------------------------------------------------


async def test_search_by_status(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket status:pending")
    assert answer["count"] == sum(t.status == "pending" for t in world.tickets)
    assert {r["status"] for r in answer["results"]} == {"pending"}


async def test_search_repeating_a_keyword_ors_its_values(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket status:open status:pending")
    assert answer["count"] == sum(t.status in ("open", "pending") for t in world.tickets)


async def test_search_status_below_follows_zendesks_order(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket status<solved")
    below = STATUS_ORDER[: STATUS_ORDER.index("solved")]
    assert answer["count"] == sum(t.status in below for t in world.tickets)


async def test_search_status_above_follows_zendesks_order(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket status>pending")
    assert answer["count"] == sum(t.status in ("hold", "solved", "closed") for t in world.tickets)


async def test_search_by_priority(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket priority:urgent")
    assert answer["count"] == sum(t.priority == "urgent" for t in world.tickets)


async def test_search_by_requester_email(zendesk, world) -> None:
    person = busy_requester(world)
    answer = await search(zendesk, f"type:ticket requester:{person.email}")
    assert [r["id"] for r in answer["results"]] == tickets_of(world, person)


async def test_search_by_several_requesters_is_their_union(zendesk, world) -> None:
    # ORed terms of one keyword: every ticket of any of them, and each ticket once.
    people = [busy_requester(world, n) for n in (3, 4)] + list(world.people[:40])
    terms = " ".join(f"requester:{p.email}" for p in people)
    answer = await search(zendesk, f"type:ticket {terms}", per_page=100)
    wanted = sorted({i for p in people for i in tickets_of(world, p)})
    assert answer["count"] == len(wanted)
    assert sorted(r["id"] for r in answer["results"]) == wanted[:100]
    # ``none`` among them adds nothing (every ticket has a requester); an excluded one's go.
    excluded = people[0].email
    answer = await search(zendesk, f"type:ticket {terms} requester:none -requester:{excluded}")
    assert answer["count"] == len(set(wanted) - set(tickets_of(world, people[0])))


async def test_search_by_requester_id(zendesk, world) -> None:
    person = busy_requester(world)
    user = await user_of(zendesk, person)
    answer = await search(zendesk, f"type:ticket requester_id:{user['id']}")
    assert [r["id"] for r in answer["results"]] == tickets_of(world, person)


async def test_search_by_brand_id(zendesk, world) -> None:
    brand = world.brands[1]
    answer = await search(zendesk, f"type:ticket brand_id:{brand.zendesk_brand_id}")
    assert answer["count"] == sum(t.requester.brand is brand for t in world.tickets)


async def test_search_by_a_created_date_range(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket created>2025-01-01 created<2025-02-01")
    start, end = datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    assert answer["count"] == sum(start <= t.created_at < end for t in world.tickets)


async def test_search_by_updated_after_a_day(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket updated>2026-06-01")
    since = datetime(2026, 6, 2, tzinfo=UTC)
    assert answer["count"] == sum(t.updated_at >= since for t in world.tickets)


async def test_search_by_an_instant(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket created<2024-03-01T12:00:00Z")
    instant = datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert answer["count"] == sum(t.created_at < instant for t in world.tickets)


async def test_search_by_tags_ors_repeated_tags(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket tags:bonus tags:deposit")
    assert answer["count"] == sum(bool({"bonus", "deposit"} & set(t.tags)) for t in world.tickets)


async def test_search_excludes_with_a_minus(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket -status:closed")
    assert answer["count"] == sum(t.status != "closed" for t in world.tickets)


async def test_search_sorts_by_created_at_ascending(zendesk) -> None:
    params = {"sort_by": "created_at", "sort_order": "asc", "per_page": 100}
    answer = await search(zendesk, "type:ticket status:hold", **params)
    stamps = [r["created_at"] for r in answer["results"]]
    assert stamps == sorted(stamps)


async def test_search_sorts_descending_by_default(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket priority:low", sort_by="updated_at")
    stamps = [r["updated_at"] for r in answer["results"]]
    lows = [t.updated_at for t in world.tickets if t.priority == "low"]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[0] == iso(max(lows))


async def test_search_results_carry_their_type(zendesk, world) -> None:
    person = world.customers[0]
    answer = await search(zendesk, f"type:user email:{person.email}")
    assert [(r["result_type"], r["email"]) for r in answer["results"]] == [("user", person.email)]


async def test_search_next_page_continues_the_results(zendesk) -> None:
    first = await search(zendesk, "type:ticket status:open", per_page=50)
    second = (await zendesk.get(first["next_page"])).json()
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 100
    assert "page=1" in second["previous_page"]


async def test_search_stops_offering_pages_at_1000_results(zendesk, world) -> None:
    answer = await search(zendesk, "type:ticket", page=10, per_page=100)
    assert answer["count"] == len(world.tickets)
    assert answer["next_page"] is None


async def test_search_past_1000_results_is_refused(zendesk) -> None:
    answer = await zendesk.get("/api/v2/search", params={"query": "type:ticket", "page": 11})
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid"


async def test_search_with_an_unreadable_date_is_refused(zendesk) -> None:
    answer = await zendesk.get("/api/v2/search", params={"query": "type:ticket created>soon"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"


async def test_search_with_a_non_integer_page_is_refused(zendesk) -> None:
    params = {"query": "type:ticket", "page": "two"}
    answer = await zendesk.get("/api/v2/search", params=params)
    assert answer.status_code == 400
    assert answer.json()["error"]["title"] == "Invalid attribute"


# -- search export --------------------------------------------------------------------------------


def newest_first(seeds: list[TicketSeed]) -> list[int]:
    """Ticket ids in the export's order: created_at descending, then id ascending."""
    return [t.idx + 1 for t in sorted(seeds, key=lambda t: (-t.created_at.timestamp(), t.idx))]


async def export(client: httpx.AsyncClient, query: str, **params) -> httpx.Response:
    params = {"query": query, "filter[type]": "ticket", **params}
    return await client.get("/api/v2/search/export", params=params)


async def export_all(client: httpx.AsyncClient, query: str, size: int) -> tuple[list[dict], int]:
    """Every result of an export, following ``meta.after_cursor``; and the pages it took."""
    results: list[dict] = []
    pages, cursor = 0, None
    while True:
        extra = {"page[after]": cursor} if cursor else {}
        answer = await export(client, query, **{"page[size]": size, **extra})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        results += body["results"]
        pages += 1
        if not body["meta"]["has_more"]:
            return results, pages
        cursor = body["meta"]["after_cursor"]


def requesters_with_mixed_statuses(world: World, wanted: set[str], count: int) -> list[Person]:
    """People with tickets both in and out of ``wanted``, so that both halves of a query bite."""
    statuses: dict[int, set[str]] = {}
    for t in world.tickets:
        statuses.setdefault(t.requester.idx, set()).add(t.status)
    mixed = [i for i, s in sorted(statuses.items()) if s & wanted and s - wanted]
    return [world.people[i] for i in mixed[:count]]


async def test_export_pages_yield_every_match_once_newest_first(zendesk, world) -> None:
    results, pages = await export_all(zendesk, "status:hold", size=37)
    expected = newest_first([t for t in world.tickets if t.status == "hold"])
    assert [r["id"] for r in results] == expected
    assert pages == -(-len(expected) // 37)


async def test_export_is_not_capped_at_1000_results(zendesk, world) -> None:
    results, _pages = await export_all(zendesk, "-status:closed", size=1000)
    expected = [t for t in world.tickets if t.status != "closed"]
    assert len(expected) > 1000
    assert [r["id"] for r in results] == newest_first(expected)


async def test_export_ors_repeated_keywords_and_ands_different_ones(zendesk, world) -> None:
    wanted = {"open", "pending"}
    first, second = requesters_with_mixed_statuses(world, wanted, 2)
    query = f"status:open status:pending requester:{first.email} requester:{second.email}"
    results, _pages = await export_all(zendesk, query, size=2)
    expected = [t for t in world.tickets if t.requester in (first, second) and t.status in wanted]
    assert [r["id"] for r in results] == newest_first(expected)


async def test_export_answers_100_requesters_open_tickets_in_one_request(zendesk, world) -> None:
    wanted = {"open", "pending"}
    people = requesters_with_mixed_statuses(world, wanted, 100)
    emails = {p.email for p in people}
    query = "status:open status:pending " + " ".join(f"requester:{e}" for e in sorted(emails))
    answer = await export(zendesk, query, **{"page[size]": 1000})
    body = answer.json()
    expected = [t for t in world.tickets if t.requester.email in emails and t.status in wanted]
    assert len(people) == 100
    assert body["meta"]["has_more"] is False
    assert [r["id"] for r in body["results"]] == newest_first(expected)


async def test_export_pages_by_100_when_no_size_is_given(zendesk) -> None:
    body = (await export(zendesk, "status<solved")).json()
    assert len(body["results"]) == 100
    assert body["meta"]["has_more"] is True


async def test_export_links_next_continues_and_prev_is_always_null(zendesk) -> None:
    first = (await export(zendesk, "status:pending", **{"page[size]": 10})).json()
    second = (await zendesk.get(first["links"]["next"])).json()
    direct = (
        await export(
            zendesk,
            "status:pending",
            **{"page[size]": 10, "page[after]": first["meta"]["after_cursor"]},
        )
    ).json()
    assert second["results"] == direct["results"]
    assert (first["links"]["prev"], second["links"]["prev"]) == (None, None)
    assert first["meta"]["before_cursor"] is None


async def test_export_last_page_offers_no_next_link(zendesk, world) -> None:
    person = busy_requester(world)
    body = (await export(zendesk, f"requester:{person.email}")).json()
    assert body["meta"]["has_more"] is False
    assert body["links"]["next"] is None
    assert "count" not in body


async def test_export_results_carry_their_type(zendesk, world) -> None:
    person = world.customers[4]
    params = {"filter[type]": "user"}
    body = (await export(zendesk, f"email:{person.email}", **params)).json()
    assert [(r["result_type"], r["email"]) for r in body["results"]] == [("user", person.email)]


async def test_export_of_users_is_newest_first(zendesk, world) -> None:
    results = (await export(zendesk, "role:end-user", **{"filter[type]": "user"})).json()
    stamps = [r["created_at"] for r in results["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[0] == iso(max(p.created_at for p in world.customers))


async def test_export_of_organizations_is_empty(zendesk) -> None:
    answer = await export(zendesk, "name:acme", **{"filter[type]": "organization"})
    assert answer.status_code == 200
    assert answer.json()["results"] == []
    assert answer.json()["meta"]["has_more"] is False


async def test_export_without_filter_type_is_refused(zendesk) -> None:
    answer = await zendesk.get("/api/v2/search/export", params={"query": "status:open"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"
    assert "filter[type]" in answer.json()["description"]


async def test_export_with_an_unknown_filter_type_is_refused(zendesk) -> None:
    answer = await export(zendesk, "status:open", **{"filter[type]": "article"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"


async def test_export_with_type_in_the_query_is_refused(zendesk) -> None:
    answer = await export(zendesk, "type:ticket status:open")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"


async def test_export_without_a_query_is_refused(zendesk) -> None:
    answer = await zendesk.get("/api/v2/search/export", params={"filter[type]": "ticket"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"


async def test_export_takes_a_page_size_of_1000(zendesk) -> None:
    answer = await export(zendesk, "-status:closed", **{"page[size]": 1000})
    assert len(answer.json()["results"]) == 1000


@pytest.mark.parametrize("size", ["1001", "0", "ten"])
async def test_export_page_size_outside_1_to_1000_is_refused(zendesk, size) -> None:
    answer = await export(zendesk, "status:open", **{"page[size]": size})
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidPaginationParameter"


def _issued(cursor: str, at: float) -> str:
    """``cursor`` as if the simulator had issued it at ``at`` (its own, readable encoding)."""
    data = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=="))
    raw = json.dumps({**data, "at": at}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


async def test_an_export_cursor_expires_after_an_hour(zendesk, restore) -> None:
    first = (await export(zendesk, "status:open", **{"page[size]": 5})).json()
    cursor = first["meta"]["after_cursor"]
    for age, status in ((3_500, 200), (3_610, 400)):
        after = _issued(cursor, time.time() - age)
        answer = await export(zendesk, "status:open", **{"page[size]": 5, "page[after]": after})
        assert answer.status_code == status, (age, answer.text)
    assert answer.json() == {
        "error": "InvalidPaginationParameter",
        "description": "The cursor has expired",
    }


async def test_expiring_cursors_makes_every_export_cursor_issued_so_far_expire(
    zendesk, control, restore
) -> None:
    older = (await export(zendesk, "status:open", **{"page[size]": 5})).json()
    assert (await control.post("/zendesk/__expire_cursors")).status_code == 204  # no credentials

    answer = await export(
        zendesk, "status:open", **{"page[size]": 5, "page[after]": older["meta"]["after_cursor"]}
    )
    assert answer.status_code == 400
    assert answer.json()["description"] == "The cursor has expired"
    newer = (await export(zendesk, "status:open", **{"page[size]": 5})).json()
    following = await export(
        zendesk, "status:open", **{"page[size]": 5, "page[after]": newer["meta"]["after_cursor"]}
    )
    assert following.status_code == 200, following.text


async def test_slow_export_pages_are_held_back(zendesk, control) -> None:
    bad = await control.put("/zendesk/__slow_exports", json={"above": 0, "ms": 10})
    assert bad.status_code == 400
    assert (await control.put("/zendesk/__slow_exports", json={"above": 5, "ms": 400})).is_success
    try:
        small = await export(zendesk, "status:open", **{"page[size]": 5})
        large = await export(zendesk, "status:open", **{"page[size]": 6})
    finally:
        assert (await control.delete("/zendesk/__slow_exports")).status_code == 204
    assert large.elapsed.total_seconds() >= 0.4  # held back: a lower bound, not a timing
    assert (small.status_code, large.status_code) == (200, 200)


async def test_export_with_a_garbled_cursor_is_refused(zendesk) -> None:
    answer = await export(zendesk, "status:open", **{"page[after]": "not-a-cursor"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidPaginationParameter"


async def test_export_with_a_cursor_from_another_type_is_refused(zendesk) -> None:
    users = (await export(zendesk, "role:end-user", **{"filter[type]": "user"})).json()
    answer = await export(zendesk, "status:open", **{"page[after]": users["meta"]["after_cursor"]})
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidPaginationParameter"


# -- counts ---------------------------------------------------------------------------------------


async def test_search_count_equals_what_search_finds(zendesk, world) -> None:
    query = "type:ticket status:open status:pending priority>normal"
    counted = await zendesk.get("/api/v2/search/count", params={"query": query})
    expected = sum(
        t.status in ("open", "pending") and t.priority in ("high", "urgent") for t in world.tickets
    )
    assert counted.json() == {"count": expected}
    assert (await search(zendesk, query))["count"] == expected


async def test_search_count_is_not_capped_at_1000(zendesk, world) -> None:
    counted = await zendesk.get("/api/v2/search/count", params={"query": "type:ticket"})
    assert counted.json() == {"count": len(world.tickets)}


async def test_search_count_without_a_type_counts_users_and_tickets(zendesk, world) -> None:
    query = "created<2025-01-01"
    counted = (await zendesk.get("/api/v2/search/count", params={"query": query})).json()
    tickets = await zendesk.get("/api/v2/search/count", params={"query": f"type:ticket {query}"})
    users = await zendesk.get("/api/v2/search/count", params={"query": f"type:user {query}"})
    assert tickets.json()["count"] > 0
    assert users.json()["count"] > 0
    assert counted["count"] == tickets.json()["count"] + users.json()["count"]
    assert counted["count"] == (await search(zendesk, query))["count"]


async def test_search_count_without_a_query_is_refused(zendesk) -> None:
    answer = await zendesk.get("/api/v2/search/count")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"


async def test_ticket_count_is_the_number_of_tickets(zendesk, world) -> None:
    answer = (await zendesk.get("/api/v2/tickets/count")).json()
    assert answer["count"]["value"] == len(world.tickets)
    assert datetime.strptime(answer["count"]["refreshed_at"], "%Y-%m-%dT%H:%M:%SZ")


async def test_ticket_count_includes_a_created_ticket(zendesk, world, restore) -> None:
    ticket = {"comment": {"body": "One more"}}
    (await zendesk.post("/api/v2/tickets", json={"ticket": ticket})).raise_for_status()
    answer = (await zendesk.get("/api/v2/tickets/count")).json()
    assert answer["count"]["value"] == len(world.tickets) + 1


async def test_counts_and_export_are_counted_under_their_own_templates(zendesk, control) -> None:
    await zendesk.get("/api/v2/tickets/count")
    await zendesk.get("/api/v2/search/count", params={"query": "status:open"})
    await export(zendesk, "status:open")
    requests = (await control.get("/zendesk/__stats")).json()["requests"]
    assert requests["GET /api/v2/tickets/count"] == 1
    assert requests["GET /api/v2/search/count"] == 1
    assert requests["GET /api/v2/search/export"] == 1
    assert "GET /api/v2/tickets/{ticket_id}" not in requests


# -- dialect: rate limits, faults, counting -------------------------------------------------------


async def test_answers_carry_zendesks_rate_headers(zendesk) -> None:
    answer = await zendesk.get("/api/v2/tickets/1")
    assert answer.headers["X-Rate-Limit"] == "700"
    assert answer.headers["ratelimit-limit"] == "700"
    assert int(answer.headers["X-Rate-Limit-Remaining"]) < 700
    assert 0 <= int(answer.headers["ratelimit-reset"]) <= 60


async def test_over_the_limit_is_a_429_with_retry_after(zendesk, control) -> None:
    limit = {"rate_limit": {"requests": 2, "per_seconds": 60}}
    (await control.put("/zendesk/__config", json=limit)).raise_for_status()
    statuses = [(await zendesk.get("/api/v2/tickets/1")).status_code for _ in range(2)]
    refused = await zendesk.get("/api/v2/tickets/1")
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert refused.text == "Number of allowed API requests per minute exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Rate-Limit-Remaining"] == "0"


async def test_an_injected_fault_speaks_zendesk(zendesk, control) -> None:
    fault = {"error_rate": 1, "error_status": 503}
    (await control.put("/zendesk/__config", json=fault)).raise_for_status()
    answer = await zendesk.get("/api/v2/tickets/1")
    assert answer.status_code == 503
    assert set(answer.json()) == {"error", "description"}


async def test_requests_are_counted_under_zendesks_path_templates(zendesk, control) -> None:
    await zendesk.get("/api/v2/tickets/5")
    await zendesk.get("/api/v2/tickets/show_many", params={"ids": "1,2"})
    stats = (await control.get("/zendesk/__stats")).json()
    assert stats["requests"]["GET /api/v2/tickets/{ticket_id}"] == 1
    assert stats["requests"]["GET /api/v2/tickets/show_many"] == 1


async def test_an_unknown_path_is_an_invalid_endpoint(zendesk) -> None:
    answer = await zendesk.get("/api/v2/nothing_here")
    assert answer.status_code == 404
    assert answer.json()["error"] == "InvalidEndpoint"
