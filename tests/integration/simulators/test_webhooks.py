"""The simulators' signed webhooks, received by a real loopback endpoint in the test's loop.

Signatures are checked here with the vendors' published rules, computed independently of the
simulators' code. HubSpot's webhooks-v3.json describes subscription management only (no event
payload schema), so events are checked against its list of subscription types.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn

from app.simulators.credentials import (
    HUBSPOT_TOKEN,
    PLAYERS_API_KEY,
    ZENDESK_API_TOKEN,
    ZENDESK_EMAIL,
)
from app.simulators.server import RunningSimulators, bind_loopback
from app.simulators.world import LEVEL_NAMES, World
from tests.contract.openapi import SPECS

SECRET = "whsec-simulated-test"
PREFIXES = {"hubspot": "/hubspot", "zendesk": "/zendesk", "players": "/players"}
VENDORS = tuple(PREFIXES)
BRAND = "luckyspin"
DEADLINE = 10.0


# -- the receiver ---------------------------------------------------------------------------------


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; answers 500 to the next ``failures`` ones; while ``held``,
    keeps each request waiting until released."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    failures: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.deliveries.append(Delivery(scope["path"], headers, b"".join(chunks)))
        await self.gate.wait()
        status = 204
        if self.failures:
            self.failures -= 1
            status = 500
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for(self, count: int) -> list[Delivery]:
        await until(lambda: len(self.deliveries) >= count, f"{count} deliveries")
        return self.deliveries


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook endpoint on a loopback port, served by uvicorn in the test's own loop."""
    receiver = Receiver()
    sock = bind_loopback()
    config = uvicorn.Config(receiver, log_level="critical", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started, "the receiver to start")
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks/in"
    yield receiver
    receiver.release()
    server.should_exit = True
    await task
    sock.close()


# -- the simulators -------------------------------------------------------------------------------


@dataclass
class Sims:
    """Clients of the three simulators that send webhooks, and their control routes."""

    control: httpx.AsyncClient
    hubspot: httpx.AsyncClient
    zendesk: httpx.AsyncClient
    players: httpx.AsyncClient

    async def register(self, vendor: str, url: str, **fields: Any) -> httpx.Response:
        body = {"url": url, "secret": SECRET, **fields}
        return await self.control.put(f"{PREFIXES[vendor]}/__webhooks", json=body)

    async def status(self, vendor: str) -> dict[str, Any]:
        response = await self.control.get(f"{PREFIXES[vendor]}/__webhooks")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def settled(self, vendor: str, sent: int, failed: int = 0) -> dict[str, Any]:
        """Poll until the sender has nothing pending and these counts; answer its status."""
        status: dict[str, Any] = {}
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            status = await self.status(vendor)
            if (status["pending"], status["sent"], status["failed"]) == (0, sent, failed):
                return status
            await asyncio.sleep(0.01)
        raise AssertionError(f"{vendor} webhooks never settled at sent={sent}: {status}")


@pytest.fixture
async def sims(simulators: RunningSimulators, control: httpx.AsyncClient) -> AsyncIterator[Sims]:
    hubspot = httpx.AsyncClient(
        base_url=simulators.url("/hubspot"),
        headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
        timeout=10,
    )
    zendesk = httpx.AsyncClient(
        base_url=simulators.url("/zendesk"),
        auth=(f"{ZENDESK_EMAIL}/token", ZENDESK_API_TOKEN),
        timeout=10,
    )
    players = httpx.AsyncClient(
        base_url=simulators.url("/players"),
        headers={"X-API-Key": PLAYERS_API_KEY, "X-Brand-Key": BRAND},
        timeout=10,
    )
    yield Sims(control, hubspot, zendesk, players)
    for client in (hubspot, zendesk, players):
        await client.aclose()
    # Forget the receiver (its port may be reused) and undo every write.
    for prefix in PREFIXES.values():
        (await control.post(f"{prefix}/__reset", params={"data": "true"})).raise_for_status()


# -- signatures, computed here from the vendors' documented rules ------------------------------


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def hubspot_signed(delivery: Delivery, url: str, secret: str = SECRET) -> bool:
    stamp = delivery.headers["x-hubspot-request-timestamp"]
    expected = _mac(secret, b"POST" + url.encode() + delivery.body + stamp.encode())
    given = delivery.headers["x-hubspot-signature-v3"]
    return hmac.compare_digest(base64.b64encode(expected).decode(), given)


def zendesk_signed(delivery: Delivery, url: str, secret: str = SECRET) -> bool:
    stamp = delivery.headers["x-zendesk-webhook-signature-timestamp"]
    expected = base64.b64encode(_mac(secret, stamp.encode() + delivery.body)).decode()
    return hmac.compare_digest(expected, delivery.headers["x-zendesk-webhook-signature"])


def player_signature(delivery: Delivery) -> tuple[str, list[str]]:
    parts = [p.split("=", 1) for p in delivery.headers["x-signature"].split(",")]
    (stamp,) = [v for k, v in parts if k == "t"]
    return stamp, [v for k, v in parts if k == "v1"]


def players_signed(delivery: Delivery, url: str, secret: str = SECRET) -> bool:
    stamp, signatures = player_signature(delivery)
    expected = _mac(secret, stamp.encode() + b"." + delivery.body).hex()
    return any(hmac.compare_digest(expected, s) for s in signatures)


SIGNED: dict[str, Callable[[Delivery, str], bool]] = {
    "hubspot": hubspot_signed,
    "zendesk": zendesk_signed,
    "players": players_signed,
}


def age_seconds(vendor: str, delivery: Delivery) -> float:
    """How old the delivery's signed timestamp is."""
    if vendor == "hubspot":
        sent = int(delivery.headers["x-hubspot-request-timestamp"]) / 1000
    elif vendor == "zendesk":
        stamp = delivery.headers["x-zendesk-webhook-signature-timestamp"]
        sent = datetime.fromisoformat(stamp).timestamp()
    else:
        sent = int(player_signature(delivery)[0])
    return time.time() - sent


def event_ids(vendor: str, delivery: Delivery) -> list[Any]:
    body = delivery.json()
    return [e["eventId"] for e in body] if vendor == "hubspot" else [body["id"]]


# -- writes through each vendor's API -----------------------------------------------------------


async def new_contact(sims: Sims, **properties: str) -> dict[str, Any]:
    email = f"hook-{uuid.uuid4().hex[:10]}@example.com"
    body = {"properties": {"email": email, "firstname": "Ada", **properties}}
    response = await sims.hubspot.post("/crm/v3/objects/contacts", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def new_ticket(sims: Sims, subject: str = "Hook me") -> dict[str, Any]:
    body = {"ticket": {"subject": subject, "comment": {"body": "It broke."}, "priority": "low"}}
    response = await sims.zendesk.post("/api/v2/tickets", json=body)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()["ticket"]
    return ticket


async def award(sims: Sims, player_id: str, delta: int, key: str | None = None) -> dict[str, Any]:
    body = {"delta": delta, "reason": "promo", "idempotency_key": key or uuid.uuid4().hex}
    response = await sims.players.post(f"/v1/players/{player_id}/points", json=body)
    assert response.status_code == 200, response.text
    player: dict[str, Any] = response.json()["player"]
    return player


def a_player(world: World) -> str:
    return next(p.player_id for p in world.players if p.person.brand.key == BRAND)


WRITES: dict[str, Callable[[Sims, World], Awaitable[Any]]] = {
    "hubspot": lambda sims, world: new_contact(sims),
    "zendesk": lambda sims, world: new_ticket(sims),
    "players": lambda sims, world: award(sims, a_player(world), 5),
}


# -- registration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_registering_answers_the_target_without_its_secret(
    sims: Sims, receiver: Receiver, vendor: str
) -> None:
    response = await sims.register(vendor, receiver.url)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "url": receiver.url,
        "mode": "normal",
        "attempts": 4,
        "backoff_ms": 100,
    }
    status = await sims.status(vendor)
    assert SECRET not in json.dumps(status)
    assert status == {**response.json(), "sent": 0, "failed": 0, "pending": 0}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hooks",
        "http://10.0.0.7:8000/hooks",
        "http://127.0.0.1@example.com/hooks",
        "ftp://127.0.0.1/hooks",
    ],
)
async def test_a_url_off_loopback_is_refused(sims: Sims, url: str) -> None:
    response = await sims.register("zendesk", url)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["path"] == "url"
    assert "loopback" in error["message"]
    assert (await sims.status("zendesk"))["url"] is None


async def test_a_mode_it_does_not_know_is_refused(sims: Sims, receiver: Receiver) -> None:
    response = await sims.register("hubspot", receiver.url, mode="sometimes")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "mode"


@pytest.mark.parametrize("vendor", ["hubspot", "zendesk"])
async def test_only_player_stats_sign_with_several_secrets(
    sims: Sims, receiver: Receiver, vendor: str
) -> None:
    body = {"url": receiver.url, "secrets": ["old", "new"]}
    response = await sims.control.put(f"{PREFIXES[vendor]}/__webhooks", json=body)
    assert response.status_code == 400
    assert "one secret" in response.json()["errors"][0]["message"]


async def test_salesforce_sends_no_webhooks(sims: Sims, receiver: Receiver) -> None:
    response = await sims.control.put("/salesforce/__webhooks", json={"url": receiver.url})
    assert response.status_code == 404
    assert "SystemModstamp" in response.json()["error"]


async def test_reset_forgets_the_target_and_the_counters(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    await sims.register("players", receiver.url)
    await award(sims, a_player(world), 3)
    await sims.settled("players", sent=1)
    (await sims.control.post("/players/__reset")).raise_for_status()
    assert await sims.status("players") == {"url": None, "sent": 0, "failed": 0, "pending": 0}


async def test_after_delete_changes_are_not_sent(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    await sims.register("players", receiver.url)
    (await sims.control.delete("/players/__webhooks")).raise_for_status()
    unsent = await award(sims, a_player(world), 3)
    await sims.register("players", receiver.url)
    sent = await award(sims, a_player(world), 4)
    (delivery,) = await receiver.wait_for(1)
    await sims.settled("players", sent=1)
    # Deliveries keep their order, so an event of the first award would have come first.
    assert delivery.json()["changes"]["points_balance"] == sent["points_balance"]
    assert sent["points_balance"] == unsent["points_balance"] + 4
    assert len(receiver.deliveries) == 1


# -- HubSpot --------------------------------------------------------------------------------------


def hubspot_subscription_types() -> set[str]:
    spec = json.loads((SPECS / "hubspot" / "webhooks-v3.json").read_text())
    enum: list[str] = spec["components"]["schemas"]["SubscriptionCreateRequest"]["properties"][
        "eventType"
    ]["enum"]
    return set(enum)


def assert_hubspot_event(event: dict[str, Any], object_id: str) -> None:
    assert event["subscriptionType"] in hubspot_subscription_types()
    for name in ("eventId", "subscriptionId", "portalId", "appId", "occurredAt", "objectId"):
        assert isinstance(event[name], int), name
    assert event["objectId"] == int(object_id)
    assert event["changeSource"] == "CRM_API"


async def test_a_contact_created_is_one_signed_creation_event(
    sims: Sims, receiver: Receiver
) -> None:
    await sims.register("hubspot", receiver.url)
    contact = await new_contact(sims)
    (delivery,) = await receiver.wait_for(1)
    assert delivery.path == "/hooks/in"
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["x-hubspot-signature-version"] == "v3"
    assert hubspot_signed(delivery, receiver.url)
    (event,) = delivery.json()
    assert_hubspot_event(event, contact["id"])
    assert event["subscriptionType"] == "contact.creation"
    assert event["attemptNumber"] == 0
    assert "propertyName" not in event


async def test_an_update_is_one_event_per_property_it_changed(
    sims: Sims, receiver: Receiver
) -> None:
    contact = await new_contact(sims, lastname="Byron")
    await sims.register("hubspot", receiver.url)
    email = contact["properties"]["email"]
    changes = {"firstname": "Augusta", "lastname": "", "email": email, "city": "London"}
    response = await sims.hubspot.patch(
        f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": changes}
    )
    assert response.status_code == 200, response.text
    (delivery,) = await receiver.wait_for(1)
    assert hubspot_signed(delivery, receiver.url)
    events = delivery.json()
    for event in events:
        assert_hubspot_event(event, contact["id"])
        assert event["subscriptionType"] == "contact.propertyChange"
    # The email was written unchanged, so it raises no event; a cleared property reads "".
    assert {e["propertyName"]: e["propertyValue"] for e in events} == {
        "city": "London",
        "firstname": "Augusta",
        "lastname": "",
    }
    assert len({e["eventId"] for e in events}) == 3


async def test_a_batch_sends_its_events_in_arrays_of_at_most_100(
    sims: Sims, receiver: Receiver
) -> None:
    inputs = [
        {"properties": {"email": f"batch-{i}-{uuid.uuid4().hex[:8]}@example.com"}}
        for i in range(60)
    ]
    created = await sims.hubspot.post(
        "/crm/v3/objects/contacts/batch/create", json={"inputs": inputs}
    )
    assert created.status_code == 201, created.text
    ids = [r["id"] for r in created.json()["results"]]
    await sims.register("hubspot", receiver.url)
    updates = [{"id": i, "properties": {"firstname": "Bo", "city": "Oslo"}} for i in ids]
    response = await sims.hubspot.post(
        "/crm/v3/objects/contacts/batch/update", json={"inputs": updates}
    )
    assert response.status_code == 200, response.text
    first, second = await receiver.wait_for(2)
    await sims.settled("hubspot", sent=2)
    assert [len(first.json()), len(second.json())] == [100, 20]
    events = first.json() + second.json()
    assert {(str(e["objectId"]), e["propertyName"]) for e in events} == {
        (i, name) for i in ids for name in ("firstname", "city")
    }


async def test_a_batch_create_is_one_array_of_creation_events(
    sims: Sims, receiver: Receiver
) -> None:
    await sims.register("hubspot", receiver.url)
    inputs = [
        {"properties": {"email": f"c{i}-{uuid.uuid4().hex[:8]}@example.com"}} for i in range(3)
    ]
    created = await sims.hubspot.post(
        "/crm/v3/objects/contacts/batch/create", json={"inputs": inputs}
    )
    assert created.status_code == 201, created.text
    (delivery,) = await receiver.wait_for(1)
    events = delivery.json()
    assert [e["subscriptionType"] for e in events] == ["contact.creation"] * 3
    assert sorted(str(e["objectId"]) for e in events) == sorted(
        r["id"] for r in created.json()["results"]
    )


async def test_companies_send_no_webhooks(sims: Sims, receiver: Receiver) -> None:
    await sims.register("hubspot", receiver.url)
    response = await sims.hubspot.post(
        "/crm/v3/objects/companies", json={"properties": {"name": "Quiet Ltd"}}
    )
    assert response.status_code == 201
    contact = await new_contact(sims)
    (delivery,) = await receiver.wait_for(1)
    await sims.settled("hubspot", sent=1)
    assert [e["objectId"] for e in delivery.json()] == [int(contact["id"])]


# -- Zendesk --------------------------------------------------------------------------------------


def assert_zendesk_envelope(body: dict[str, Any], ticket_id: int, kind: str) -> None:
    assert set(body) == {
        "account_id",
        "detail",
        "event",
        "id",
        "subject",
        "time",
        "type",
        "zendesk_event_version",
    }
    assert isinstance(body["account_id"], int)
    uuid.UUID(body["id"])
    assert body["subject"] == f"zen:ticket:{ticket_id}"
    assert body["type"] == f"zen:event-type:ticket.{kind}"
    assert body["time"].endswith("Z")
    datetime.fromisoformat(body["time"])
    assert body["zendesk_event_version"] == "2022-11-06"
    assert body["detail"]["id"] == str(ticket_id)


async def test_a_ticket_created_is_a_signed_ticket_created_event(
    sims: Sims, receiver: Receiver
) -> None:
    await sims.register("zendesk", receiver.url)
    ticket = await new_ticket(sims, "Cannot log in")
    (delivery,) = await receiver.wait_for(1)
    assert zendesk_signed(delivery, receiver.url)
    assert delivery.headers["x-zendesk-webhook-id"]
    body = delivery.json()
    assert_zendesk_envelope(body, ticket["id"], "created")
    detail = body["detail"]
    assert detail["subject"] == "Cannot log in"
    assert detail["status"] == ticket["status"].upper()
    assert detail["priority"] == "LOW"
    assert detail["brand_id"] == str(ticket["brand_id"])
    assert detail["requester_id"] == str(ticket["requester_id"])
    assert detail["updated_at"] == ticket["updated_at"]


async def test_an_update_is_one_event_per_field_then_the_comment(
    sims: Sims, receiver: Receiver
) -> None:
    ticket = await new_ticket(sims)
    await sims.register("zendesk", receiver.url)
    change = {
        "status": "pending",
        "priority": "urgent",
        "subject": "Still broken",
        "comment": {"body": "Looking into it.", "public": False},
    }
    response = await sims.zendesk.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": change})
    assert response.status_code == 200, response.text
    deliveries = await receiver.wait_for(4)
    await sims.settled("zendesk", sent=4)
    bodies = [d.json() for d in deliveries]
    assert all(zendesk_signed(d, receiver.url) for d in deliveries)
    kinds = ["status_changed", "priority_changed", "subject_changed", "comment_added"]
    for body, kind in zip(bodies, kinds, strict=True):
        assert_zendesk_envelope(body, ticket["id"], kind)
        assert body["detail"]["status"] == "PENDING"
    events = [b["event"] for b in bodies]
    assert (events[0]["previous"], events[0]["current"]) == ("NEW", "PENDING")
    assert (events[1]["previous"], events[1]["current"]) == ("LOW", "URGENT")
    assert events[2]["current"] == "Still broken"
    assert events[3]["comment"]["body"] == "Looking into it."
    assert events[3]["comment"]["is_public"] is False
    assert len({e["meta"]["sequence"]["id"] for e in events}) == 1
    assert len({b["id"] for b in bodies}) == 4


async def test_an_update_that_changes_nothing_sends_nothing(sims: Sims, receiver: Receiver) -> None:
    ticket = await new_ticket(sims)
    await sims.register("zendesk", receiver.url)
    same = {"ticket": {"subject": ticket["subject"]}}
    assert (await sims.zendesk.put(f"/api/v2/tickets/{ticket['id']}", json=same)).is_success
    changed = {"ticket": {"status": "open"}}
    assert (await sims.zendesk.put(f"/api/v2/tickets/{ticket['id']}", json=changed)).is_success
    (delivery,) = await receiver.wait_for(1)
    await sims.settled("zendesk", sent=1)
    assert delivery.json()["type"] == "zen:event-type:ticket.status_changed"


async def test_create_many_sends_a_created_event_a_ticket(sims: Sims, receiver: Receiver) -> None:
    await sims.register("zendesk", receiver.url)
    tickets = [{"subject": f"Bulk {i}", "comment": {"body": "x"}} for i in range(3)]
    response = await sims.zendesk.post("/api/v2/tickets/create_many", json={"tickets": tickets})
    assert response.status_code == 200, response.text
    deliveries = await receiver.wait_for(3)
    assert [d.json()["detail"]["subject"] for d in deliveries] == ["Bulk 0", "Bulk 1", "Bulk 2"]
    assert {d.json()["type"] for d in deliveries} == {"zen:event-type:ticket.created"}


# -- player stats ---------------------------------------------------------------------------------


async def test_a_points_award_sends_a_signed_stats_update(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    await sims.register("players", receiver.url)
    player = await award(sims, a_player(world), 25)
    (delivery,) = await receiver.wait_for(1)
    assert players_signed(delivery, receiver.url)
    body = delivery.json()
    assert set(body) == {"id", "type", "occurred_at", "brand", "player_id", "changes"}
    assert body["id"].startswith("evt_")
    assert body["type"] == "player.stats.updated"
    assert body["occurred_at"] == player["updated_at"]
    assert (body["brand"], body["player_id"]) == (BRAND, player["player_id"])
    assert body["changes"] == {
        "points_balance": player["points_balance"],
        "points_ever": player["points_ever"],
    }


async def test_a_repeated_award_sends_nothing_again(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    await sims.register("players", receiver.url)
    once = await award(sims, a_player(world), 5, key="once")
    await award(sims, a_player(world), 5, key="once")
    last = await award(sims, a_player(world), -2)
    first, second = await receiver.wait_for(2)
    await sims.settled("players", sent=2)
    assert first.json()["changes"]["points_balance"] == once["points_balance"]
    assert second.json()["changes"] == {"points_balance": last["points_balance"]}


async def test_a_back_office_level_change_sends_level_changed(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    player_id = a_player(world)
    before = (await sims.players.get(f"/v1/players/{player_id}/stats")).json()["player"]
    level = before["level"]["id"] % len(LEVEL_NAMES) + 1
    await sims.register("players", receiver.url)
    change = {"brand": BRAND, "player_id": player_id, "changes": {"level": level}}
    response = await sims.control.post("/players/__change", json=change)
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == ["level"]
    (delivery,) = await receiver.wait_for(1)
    body = delivery.json()
    assert body["type"] == "player.level.changed"
    assert body["changes"] == {"level": {"id": level, "name": LEVEL_NAMES[level - 1]}}
    after = (await sims.players.get(f"/v1/players/{player_id}/stats")).json()["player"]
    assert after["level"] == body["changes"]["level"]
    assert after["updated_at"] == body["occurred_at"] > before["updated_at"]


async def test_a_back_office_stats_change_sends_stats_updated(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    await sims.register("players", receiver.url)
    change = {"brand": BRAND, "player_id": a_player(world), "changes": {"churn_score": 0.91}}
    assert (await sims.control.post("/players/__change", json=change)).status_code == 200
    (delivery,) = await receiver.wait_for(1)
    assert delivery.json()["type"] == "player.stats.updated"
    assert delivery.json()["changes"] == {"churn_score": 0.91}


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"brand": BRAND, "player_id": "nobody", "changes": {"level": 2}}, 404),
        ({"brand": "nowhere", "player_id": "p", "changes": {"level": 2}}, 400),
        ({"brand": BRAND, "player_id": "p", "changes": {"level": 99}}, 400),
        ({"brand": BRAND, "player_id": "p", "changes": {"email": "x@y.z"}}, 400),
    ],
)
async def test_a_back_office_change_it_cannot_make_is_refused(
    sims: Sims, change: dict[str, Any], status: int
) -> None:
    response = await sims.control.post("/players/__change", json=change)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"]


async def test_a_rotating_secret_signs_with_each(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    body = {"url": receiver.url, "secrets": ["old-secret", "new-secret"]}
    response = await sims.control.put("/players/__webhooks", json=body)
    assert response.status_code == 200, response.text
    assert "old-secret" not in response.text
    await award(sims, a_player(world), 1)
    (delivery,) = await receiver.wait_for(1)
    assert len(player_signature(delivery)[1]) == 2
    assert players_signed(delivery, receiver.url, "old-secret")
    assert players_signed(delivery, receiver.url, "new-secret")
    assert not players_signed(delivery, receiver.url, SECRET)


# -- modes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_normal_mode_signs_with_the_secret_and_a_fresh_timestamp(
    sims: Sims, receiver: Receiver, world: World, vendor: str
) -> None:
    await sims.register(vendor, receiver.url)
    await WRITES[vendor](sims, world)
    (delivery,) = await receiver.wait_for(1)
    assert SIGNED[vendor](delivery, receiver.url)
    assert abs(age_seconds(vendor, delivery)) < 60


@pytest.mark.parametrize("vendor", VENDORS)
async def test_bad_signature_mode_signs_with_another_key(
    sims: Sims, receiver: Receiver, world: World, vendor: str
) -> None:
    await sims.register(vendor, receiver.url, mode="bad_signature")
    await WRITES[vendor](sims, world)
    (delivery,) = await receiver.wait_for(1)
    assert not SIGNED[vendor](delivery, receiver.url)
    assert abs(age_seconds(vendor, delivery)) < 60


@pytest.mark.parametrize("vendor", VENDORS)
async def test_stale_mode_signs_a_timestamp_ten_minutes_old(
    sims: Sims, receiver: Receiver, world: World, vendor: str
) -> None:
    await sims.register(vendor, receiver.url, mode="stale")
    await WRITES[vendor](sims, world)
    (delivery,) = await receiver.wait_for(1)
    assert SIGNED[vendor](delivery, receiver.url)
    assert 590 < age_seconds(vendor, delivery) < 660


@pytest.mark.parametrize("vendor", VENDORS)
async def test_duplicate_mode_delivers_every_event_twice(
    sims: Sims, receiver: Receiver, world: World, vendor: str
) -> None:
    await sims.register(vendor, receiver.url, mode="duplicate")
    await WRITES[vendor](sims, world)
    first, second = await receiver.wait_for(2)
    await sims.settled(vendor, sent=2)
    assert event_ids(vendor, first) == event_ids(vendor, second)
    assert first.body == second.body
    assert SIGNED[vendor](first, receiver.url)
    assert SIGNED[vendor](second, receiver.url)


# -- delivery -------------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_500_is_retried_until_it_is_taken(
    sims: Sims, receiver: Receiver, world: World, vendor: str
) -> None:
    receiver.failures = 2
    await sims.register(vendor, receiver.url, backoff_ms=1)
    await WRITES[vendor](sims, world)
    deliveries = await receiver.wait_for(3)
    await sims.settled(vendor, sent=1)
    assert len({tuple(event_ids(vendor, d)) for d in deliveries}) == 1
    assert all(SIGNED[vendor](d, receiver.url) for d in deliveries)
    if vendor == "hubspot":  # HubSpot counts the attempts in the events themselves
        assert [d.json()[0]["attemptNumber"] for d in deliveries] == [0, 1, 2]


async def test_a_receiver_that_keeps_failing_is_counted_failed(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    receiver.failures = 1_000
    await sims.register("players", receiver.url, attempts=3, backoff_ms=1)
    await award(sims, a_player(world), 1)
    await sims.settled("players", sent=0, failed=1)
    assert len(receiver.deliveries) == 3


async def test_a_receiver_that_is_not_there_is_counted_failed(sims: Sims, world: World) -> None:
    sock = bind_loopback()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/gone"
    sock.close()  # nothing listens there any more: every attempt is refused
    await sims.register("players", url, attempts=2, backoff_ms=1)
    await award(sims, a_player(world), 1)
    await sims.settled("players", sent=0, failed=1)


async def test_deliveries_keep_the_order_of_the_changes_through_retries(
    sims: Sims, receiver: Receiver, world: World
) -> None:
    receiver.failures = 1
    await sims.register("players", receiver.url, backoff_ms=1)
    balances = [(await award(sims, a_player(world), n))["points_balance"] for n in (1, 2, 3, 4)]
    deliveries = await receiver.wait_for(5)
    await sims.settled("players", sent=4)
    seen = [d.json()["changes"]["points_balance"] for d in deliveries]
    assert seen == [balances[0], *balances]


async def test_the_api_answers_while_the_receiver_is_held(sims: Sims, receiver: Receiver) -> None:
    receiver.hold()
    await sims.register("zendesk", receiver.url)
    tickets = [await new_ticket(sims, f"Held {i}") for i in range(3)]
    await receiver.wait_for(1)
    # Every write has been answered while the first delivery is still held by the receiver.
    assert len(tickets) == 3
    assert len(receiver.deliveries) == 1
    assert (await sims.status("zendesk"))["pending"] == 3
    receiver.release()
    deliveries = await receiver.wait_for(3)
    await sims.settled("zendesk", sent=3)
    assert [d.json()["detail"]["id"] for d in deliveries] == [str(t["id"]) for t in tickets]
