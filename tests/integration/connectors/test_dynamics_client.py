"""The Dynamics 365 connector against the Dataverse simulator, over real loopback HTTP: the
token, batched lookups, lists, writes, refusals and the service protection limits."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import pytest

from app.connectors.base import CustomerQuery, LeadQuery, Requester, TicketQuery
from app.connectors.dynamics import describe
from app.connectors.dynamics.auth import DynamicsClientCredentials
from app.connectors.dynamics.client import DynamicsClient
from app.connectors.dynamics.mapping import Columns, Vocabulary
from app.connectors.dynamics.settings import DynamicsSource
from app.connectors.errors import (
    UnsupportedQuery,
    UpstreamAuthFailed,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from app.connectors.http import UpstreamClient
from app.connectors.metadata import CheckContext
from app.demo import demo_env, dynamics_source
from app.domain.custom import CustomFieldSpec, FieldType
from app.domain.models import LeadStatus, TicketPriority, TicketStatus
from app.resilience import deadline
from app.simulators.server import RunningSimulators
from app.simulators.world import World
from tests.integration.connectors.conftest import API, PREFIX, TOKEN_ROUTE, Build, Stats

CUSTOMER_FIELDS = ["first_name", "last_name", "email", "brand", "company", "created_at"]
LEAD_FIELDS = ["status", "first_name", "last_name", "email", "lead_source", "created_at"]
TICKET_FIELDS = ["subject", "status", "priority", "created_at"]


async def _contacts(dyn: DynamicsClient, world: World, n: int) -> list[str]:
    found = await dyn.customers_by_email([p.email for p in world.customers[:n]], ["email"])
    return [c.id.native for c in found.values()]


def _query(request: dict[str, object]) -> dict[str, list[str]]:
    return parse_qs(str(request.get("query", "")))


# -- the token ------------------------------------------------------------------------------------


async def test_the_token_is_fetched_once_and_reused(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    await stats.reset()
    for person in world.customers[:5]:
        await dyn.customers_by_email([person.email], ["email"])
    await dyn.list_customers(CustomerQuery(), 5, None, ["email"], False)

    routes = await stats.routes()
    assert routes[TOKEN_ROUTE] == 1
    assert await stats.api_calls() == 6


async def test_an_expired_token_is_replaced_once_and_the_call_succeeds(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    await dyn.customers_by_email([world.customers[0].email], ["email"])
    (await stats.control.post(f"{PREFIX}/__expire_tokens")).raise_for_status()
    await stats.reset()

    found = await dyn.customers_by_email([world.customers[1].email], ["email"])

    assert list(found) == [world.customers[1].email]
    routes = await stats.routes()
    assert routes[TOKEN_ROUTE] == 1
    assert routes[f"GET {API}/contacts"] == 2  # refused with 401, then sent again


async def test_a_token_is_renewed_shortly_before_it_expires(
    simulators: RunningSimulators, stats: Stats, world: World
) -> None:
    demo_env()
    source = DynamicsSource.model_validate(dynamics_source(simulators.base_url))
    now = [0.0]  # the token's lifetime, told by a clock of the test's
    auth = DynamicsClientCredentials(
        "dynamics",
        source.token_endpoint,
        f"{source.url}/.default",
        source.auth.client_id.live(),
        source.auth.client_secret.live(),
        clock=lambda: now[0],
    )
    http = UpstreamClient("dynamics", source.url, auth=auth)
    dyn = DynamicsClient("dynamics", http, columns=Columns.of(source), words=Vocabulary.of(source))
    await stats.reset()
    try:
        await dyn.customers_by_email([world.customers[0].email], ["email"])
        now[0] = 3599 - 300 - 1  # five minutes before expiry: still good
        await dyn.customers_by_email([world.customers[1].email], ["email"])
        now[0] = 3599 - 300 + 1
        await dyn.customers_by_email([world.customers[2].email], ["email"])
    finally:
        await http.aclose()

    routes = await stats.routes()
    assert routes[TOKEN_ROUTE] == 2
    assert routes[f"GET {API}/contacts"] == 3  # never refused: renewed before it lapsed
    assert auth.tokens_fetched == 2


async def test_a_wrong_secret_fails_without_saying_it(build: Build, monkeypatch) -> None:
    monkeypatch.setenv("CRMGRAPH_DEMO_DYNAMICS_CLIENT_SECRET", "not-the-secret-42")
    dyn = build()
    with pytest.raises(UpstreamAuthFailed) as raised:
        await dyn.customers_by_email(["a@example.com"], ["email"])
    assert "invalid_client" in str(raised.value)
    assert "not-the-secret-42" not in str(raised.value)


# -- batched lookups ------------------------------------------------------------------------------


async def test_100_emails_are_one_in_query_of_the_selected_columns(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    people = world.customers[:100]
    await dyn.customers_by_email([people[0].email], ["email"])  # the token
    await stats.reset()

    found = await dyn.customers_by_email([p.email.upper() for p in people], CUSTOMER_FIELDS)

    assert set(found) == {p.email for p in people}
    person = people[7]
    customer = found[person.email]
    assert (customer.first_name, customer.last_name) == (person.first_name, person.last_name)
    assert customer.brand == person.brand.key
    assert customer.player_id == person.player_id
    assert await stats.routes() == {f"GET {API}/contacts": 1}
    (request,) = await stats.requests()
    query = _query(request)
    assert query["$filter"][0].startswith(
        "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=["
    )
    selected = set(query["$select"][0].split(","))
    assert {"firstname", "lastname", "emailaddress1", "crmgraph_brand"} <= selected
    assert "telephone1" not in selected  # phone was not asked for


async def test_emails_with_quotes_and_plus_signs_are_found(dyn: DynamicsClient) -> None:
    tricky = ["o'brien+casino@example.com", "a&b=c#d@example.com"]
    made = [await dyn.create_contact({"last_name": "Q", "email": e}) for e in tricky]
    many = [f"filler{i}@example.com" for i in range(120)]  # two In filters: a $batch

    found = await dyn.customers_by_email([*many, *tricky], ["email"])

    assert {e: c.id.native for e, c in found.items()} == dict(zip(tricky, made, strict=True))
    alone = await dyn.customers_by_email(tricky, ["email"])  # one GET
    assert set(alone) == set(tricky)


def _accented(n: int) -> str:
    """A 74-character address of 60 accented letters: each two UTF-8 bytes, six of a URL."""
    return "é" * 60 + f"{n:03d}@exemple.fr"


async def test_long_addresses_are_split_so_each_url_is_within_dataverses_limit(
    dyn: DynamicsClient, stats: Stats
) -> None:
    emails = [_accented(n) for n in range(100)]
    made = {e: await dyn.create_contact({"last_name": "Long", "email": e}) for e in emails[::33]}
    await stats.reset()

    # ~37 kB of In list: one GET of 100, as before, was over 32 KB and refused (414).
    found = await dyn.customers_by_email(emails, ["email"])

    assert {e: c.id.native for e, c in found.items()} == made
    assert await stats.routes() == {f"POST {API}/$batch": 1}
    assert [r["status"] for r in await stats.requests()] == [200]


async def test_250_ids_are_one_batch_of_in_queries(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    ids = await _contacts(dyn, world, 250)
    await stats.reset()

    found = await dyn.customers_by_id(
        [*ids, "not-a-guid", "00000000-0000-0000-0000-0000000000ff"], ["email"]
    )

    assert set(found) == set(ids)
    assert await stats.routes() == {f"POST {API}/$batch": 1}


async def test_leads_by_email_come_oldest_first_with_their_status_and_source(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    converted = next(p for p in world.leads if p.lead_converted)
    emails = [converted.email] + [p.email for p in world.leads[:60]]
    await dyn.leads_by_email(emails[:1], ["email"])
    await stats.reset()

    found = await dyn.leads_by_email(emails, LEAD_FIELDS)

    assert await stats.api_calls() == 1
    assert found[converted.email][0].status is LeadStatus.CONVERTED
    for leads in found.values():
        created = [lead.created_at for lead in leads]
        assert created == sorted(created)  # type: ignore[type-var]
    sources = {lead.lead_source for leads in found.values() for lead in leads}
    assert sources - {None} <= {"Web", "Other", "Partner"}


async def test_tickets_of_100_requesters_are_one_batch_newest_first(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    customers = await dyn.customers_by_email([p.email for p in world.customers[:100]], ["email"])
    requesters = [Requester(c.id.native, c.email) for c in customers.values()]
    contact_ids = {c.id.native for c in customers.values()}
    await stats.reset()

    found = await dyn.tickets_by_requester(requesters, None, TICKET_FIELDS)

    assert await stats.routes() == {f"POST {API}/$batch": 1}
    expected = {t.subject for t in world.tickets if t.requester.email == requesters[0].email}
    assert {t.subject for t in found.get(requesters[0].customer_id, [])} == expected
    for tickets in found.values():
        created = [t.created_at for t in tickets]
        assert created == sorted(created, reverse=True)  # type: ignore[type-var]
        assert all(t.requester_id in contact_ids for t in tickets)


async def test_tickets_by_requester_filter_on_status_numbers(
    dyn: DynamicsClient, world: World
) -> None:
    customers = await dyn.customers_by_email([p.email for p in world.customers[:40]], ["email"])
    requesters = [Requester(c.id.native, c.email) for c in customers.values()]
    wanted = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)

    found = await dyn.tickets_by_requester(requesters, wanted, ["status"])

    statuses = {t.status for tickets in found.values() for t in tickets}
    assert statuses
    assert statuses <= set(wanted)
    assert await dyn.tickets_by_requester(requesters, (), ["status"]) == {}


async def test_requesters_are_linked_by_email_when_customers_live_elsewhere(
    build: Build, world: World
) -> None:
    dyn = build(requester_link="email")
    person = world.tickets[0].requester
    requesters = [Requester("hubspot-151", person.email)]

    found = await dyn.tickets_by_requester(requesters, None, ["subject"])

    assert {t.subject for t in found["hubspot-151"]} == {
        t.subject for t in world.tickets if t.requester.email == person.email
    }
    ticket = found["hubspot-151"][0]
    refs = await dyn.requesters_by_id([ticket.requester_id or ""])
    assert refs[ticket.requester_id or ""].customer_id is None
    assert refs[ticket.requester_id or ""].email == person.email


async def test_custom_fields_are_read_from_their_column_or_its_formatted_value(
    build: Build, world: World
) -> None:
    specs = {
        "contactStatus": CustomFieldSpec("contactStatus", "statuscode@label", FieldType("String")),
        "fullName": CustomFieldSpec("fullName", "fullname", FieldType("String")),
    }
    dyn = build(custom={"customer": specs})
    person = world.customers[2]

    found = await dyn.customers_by_email([person.email], ["email", "contactStatus", "fullName"])

    assert found[person.email].custom == {"contactStatus": "Active", "fullName": person.name}


# -- lists ----------------------------------------------------------------------------------------


async def test_a_list_pages_by_cursor_with_its_total_in_the_same_answer(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    query = CustomerQuery(brands=("luckyspin",))
    expected = sum(1 for p in world.customers if p.brand.key == "luckyspin")
    await dyn.customers_by_email([world.customers[0].email], ["email"])
    await stats.reset()

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await dyn.list_customers(query, 40, cursor, ["email", "created_at"], True)
        pages += 1
        assert page.total == expected
        assert all(c.brand == "luckyspin" for c in page.items)
        seen += [c.id.native for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == expected
    assert pages == -(-expected // 40)
    assert await stats.api_calls() == pages  # no call of its own for the count


async def test_a_list_is_newest_first_and_filters_by_time(dyn: DynamicsClient) -> None:
    page = await dyn.list_customers(CustomerQuery(), 30, None, ["created_at"], False)
    created = [c.created_at for c in page.items]
    assert created == sorted(created, reverse=True)  # type: ignore[type-var]
    assert page.total is None


async def test_lead_and_ticket_lists_filter_on_status(dyn: DynamicsClient) -> None:
    leads = await dyn.list_leads(
        LeadQuery(statuses=(LeadStatus.UNQUALIFIED,)), 50, None, ["status"], True
    )
    assert leads.items
    assert all(lead.status is LeadStatus.UNQUALIFIED for lead in leads.items)
    assert leads.total is not None
    assert leads.total >= len(leads.items)
    qualified = await dyn.list_leads(
        LeadQuery(statuses=(LeadStatus.QUALIFIED,)), 50, None, ["status"], True
    )
    assert (qualified.items, qualified.total) == ([], 0)  # no number means QUALIFIED
    tickets = await dyn.list_tickets(
        TicketQuery(statuses=(TicketStatus.ON_HOLD,), brands=("goldcoast",)),
        20,
        None,
        ["status"],
        True,
    )
    assert tickets.items
    assert all(t.status is TicketStatus.ON_HOLD and t.brand == "goldcoast" for t in tickets.items)


async def test_tickets_of_one_requester_email(dyn: DynamicsClient, world: World) -> None:
    person = world.tickets[3].requester
    page = await dyn.list_tickets(
        TicketQuery(requester_email=person.email), 50, None, ["subject"], True
    )
    expected = [t for t in world.tickets if t.requester.email == person.email]
    assert page.total == len(expected)
    assert {t.subject for t in page.items} == {t.subject for t in expected}


async def test_a_cursor_it_never_issued_is_refused_before_any_call(
    dyn: DynamicsClient, stats: Stats
) -> None:
    await stats.reset()
    with pytest.raises(UnsupportedQuery):
        await dyn.list_customers(CustomerQuery(), 5, "https://evil.example/x", ["email"], False)
    assert await stats.total() == 0


# -- writes ---------------------------------------------------------------------------------------


async def test_a_lead_round_trip(dyn: DynamicsClient, stats: Stats) -> None:
    lead_id = await dyn.create_lead(
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Analytical Engines",
            "email": "ada.lovelace@example.com",
            "lead_source": "web",
            "brand": "luckyspin",
        }
    )
    lead = (await dyn.leads_by_id([lead_id], [*LEAD_FIELDS, "company", "brand"]))[lead_id]
    assert (lead.first_name, lead.company, lead.brand) == ("Ada", "Analytical Engines", "luckyspin")
    assert (lead.status, lead.lead_source) == (LeadStatus.NEW, "Web")

    await dyn.update_lead(lead_id, {"status": "WORKING", "phone": "+44 20 7946 0000"})

    lead = (await dyn.leads_by_id([lead_id], ["status", "phone"]))[lead_id]
    assert (lead.status, lead.phone) == (LeadStatus.WORKING, "+44 20 7946 0000")
    patches = [r for r in await stats.requests() if r["method"] == "PATCH"]
    assert patches


async def test_an_update_never_creates(dyn: DynamicsClient) -> None:
    missing = "00000000-0000-0000-0000-0000000000ff"
    with pytest.raises(UpstreamNotFound):
        await dyn.update_contact(missing, {"first_name": "Ghost"})
    assert await dyn.customers_by_id([missing], ["email"]) == {}


async def test_a_contact_is_created_once_per_email(dyn: DynamicsClient, world: World) -> None:
    person = world.customers[20]
    existing = await dyn.create_contact({"last_name": "X", "email": person.email})
    assert existing in await dyn.customers_by_id([existing], ["email"])
    new = await dyn.create_contact(
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.com",
            "company": "Navy",
            "lifecycle_stage": "customer",
            "brand": "goldcoast",
        }
    )
    customer = (await dyn.customers_by_id([new], CUSTOMER_FIELDS))[new]
    assert (customer.last_name, customer.company, customer.brand) == ("Hopper", "Navy", "goldcoast")
    assert await dyn.create_contact({"last_name": "Hopper", "email": "GRACE@example.com"}) == new


async def test_a_ticket_round_trip_and_its_replay(dyn: DynamicsClient, world: World) -> None:
    person = world.customers[30]
    values = {
        "subject": "Bonus not credited",
        "description": "Deposited 20, no bonus.",
        "requester_email": person.email,
        "priority": "URGENT",
        "brand": person.brand.key,
        "external_id": "crmgraph-test-1",
    }
    assert await dyn.ticket_id_by_external_id("crmgraph-test-1") is None
    ticket_id = await dyn.create_ticket(values)
    assert await dyn.ticket_id_by_external_id("crmgraph-test-1") == ticket_id
    assert await dyn.create_ticket(values) == ticket_id  # a replay creates nothing new

    ticket = (await dyn.tickets_by_id([ticket_id], [*TICKET_FIELDS, "brand"]))[ticket_id]
    assert (ticket.subject, ticket.priority, ticket.status) == (
        "Bonus not credited",
        TicketPriority.HIGH,
        TicketStatus.NEW,
    )
    (contact,) = (await dyn.customers_by_email([person.email], ["email"])).values()
    assert ticket.requester_id == contact.id.native

    await dyn.update_ticket(ticket_id, {"status": "SOLVED", "subject": "Bonus credited"})
    ticket = (await dyn.tickets_by_id([ticket_id], TICKET_FIELDS))[ticket_id]
    assert (ticket.status, ticket.subject) == (TicketStatus.SOLVED, "Bonus credited")


async def test_a_ticket_for_a_new_requester_makes_its_contact(dyn: DynamicsClient) -> None:
    ticket_id = await dyn.create_ticket(
        {
            "subject": "Hello",
            "description": "First contact",
            "requester_email": "new@example.com",
            "requester_name": "Nova Person",
        }
    )
    (contact,) = (
        await dyn.customers_by_email(["new@example.com"], ["first_name", "last_name"])
    ).values()
    assert (contact.first_name, contact.last_name) == ("Nova", "Person")
    ticket = (await dyn.tickets_by_id([ticket_id], ["subject"]))[ticket_id]
    assert ticket.requester_id == contact.id.native


async def test_many_leads_in_one_batch_each_with_its_own_answer(
    dyn: DynamicsClient, stats: Stats
) -> None:
    await dyn.customers_by_email(["x@example.com"], ["email"])
    await stats.reset()
    records = [
        {"last_name": "One", "company": "A", "email": "one@example.com"},
        {"last_name": "x" * 60, "company": "B", "email": "two@example.com"},
        {"last_name": "Three", "company": "C", "lead_source": "Carrier pigeon"},
        {"last_name": "Four", "company": "D", "email": "four@example.com"},
    ]

    results = await dyn.create_leads(records)

    assert [r[0] is not None for r in results] == [True, False, False, True]
    assert results[1][1][0][0] == ["last_name"]
    assert results[2][1][0][0] == ["lead_source"]
    assert await stats.routes() == {f"POST {API}/$batch": 1}
    created = await dyn.leads_by_id([r[0] for r in results if r[0]], ["last_name"])
    assert {lead.last_name for lead in created.values()} == {"One", "Four"}


# -- refusals -------------------------------------------------------------------------------------


async def test_a_validation_refusal_names_the_field(dyn: DynamicsClient) -> None:
    with pytest.raises(UpstreamRejected) as too_long:
        await dyn.create_lead({"last_name": "x" * 51, "company": "Y"})
    ((fields, code, message),) = too_long.value.problems
    assert (fields, code) == (["last_name"], "0x80044331")
    assert "maximum allowed length" in message

    with pytest.raises(UpstreamRejected) as missing:
        await dyn.create_lead({"first_name": "Only", "company": "Y"})
    assert missing.value.problems[0][:2] == (["last_name"], "0x80040203")


async def test_values_the_org_has_no_option_for_are_refused_before_a_call(
    dyn: DynamicsClient, stats: Stats
) -> None:
    await stats.reset()
    with pytest.raises(UpstreamRejected) as refused:
        await dyn.update_lead("00000000-0000-0000-0000-000000000001", {"status": "QUALIFIED"})
    assert refused.value.problems[0][:2] == (["status"], "INVALID_VALUE")
    with pytest.raises(UpstreamRejected) as comment:
        await dyn.update_ticket("00000000-0000-0000-0000-000000000001", {"comment": "hi"})
    assert comment.value.problems[0][0] == ["comment"]
    assert await stats.total() == 0


async def test_a_server_error_is_unavailable_after_its_retries(
    dyn: DynamicsClient, stats: Stats
) -> None:
    await dyn.customers_by_email(["x@example.com"], ["email"])
    await stats.configure({"error_rate": 1, "error_status": 503})
    with pytest.raises(UpstreamUnavailable) as raised:
        await dyn.customers_by_email(["y@example.com"], ["email"])
    assert "0x80040216" in str(raised.value)


# -- service protection limits --------------------------------------------------------------------


async def test_a_429_is_honoured_by_waiting_its_retry_after(
    build: Build, stats: Stats, world: World
) -> None:
    # Two users of one app registration: the other one (paced by nothing) spends the budget,
    # so this one learns of the limit from the 429 itself.
    other, dyn = build(budget=False, attempts=1), build(window=2, attempts=3)
    for client in (other, dyn):
        await client.customers_by_email([world.customers[0].email], ["email"])  # the tokens
    await stats.configure({"rate_limit": {"requests": 2, "per_seconds": 2}})
    await stats.reset()
    for person in world.customers[1:3]:
        await other.customers_by_email([person.email], ["email"])

    started = time.monotonic()
    found = await dyn.customers_by_email([world.customers[3].email], ["email"])
    elapsed = time.monotonic() - started

    assert list(found) == [world.customers[3].email]
    refused = await stats.refused()
    assert refused["total"] == 1
    assert refused["reasons"] == {"rate_limited": 1}
    assert elapsed >= 0.9  # the Retry-After (whole seconds, at least 1) was waited out
    assert dyn.http.budget is not None
    assert dyn.http.budget.state().remaining is not None  # the headers were read


async def test_a_429_past_the_deadline_is_rate_limited_with_its_retry_after(
    build: Build, stats: Stats, world: World
) -> None:
    dyn = build(window=300, attempts=3)
    await dyn.customers_by_email([world.customers[0].email], ["email"])
    await stats.configure({"rate_limit": {"requests": 1, "per_seconds": 300}})
    await stats.reset()
    await dyn.customers_by_email([world.customers[1].email], ["email"])

    with deadline.within(2), pytest.raises(UpstreamRateLimited) as raised:
        await dyn.customers_by_email([world.customers[2].email], ["email"])
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 2


# -- the live check -------------------------------------------------------------------------------


async def test_the_live_check_finds_nothing_wrong_with_the_default_columns(
    dyn: DynamicsClient, stats: Stats
) -> None:
    await dyn.customers_by_email(["x@example.com"], ["email"])
    await stats.reset()
    checked = await describe.check(dyn, CheckContext(("luckyspin",)))
    assert checked.findings == []
    assert await stats.routes() == {f"POST {API}/$batch": 1}


async def test_the_live_check_names_the_setting_of_a_missing_column(build: Build) -> None:
    dyn = build(brand_column="new_brand")
    checked = await describe.check(dyn, CheckContext(("luckyspin",)))
    paths = {f.path for f in checked.findings}
    assert paths == {"sources.dynamics.brand_column"}
    assert "has no column new_brand" in checked.findings[0].message
