"""Every CRM's webhooks are a dialect in its own package; the generic pipeline (intake,
normaliser, worker) knows no CRM, so one made up here is served through the same path."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings, Webhooks
from app.connectors.kind import ENTITY_KEYS
from app.connectors.settings import SecretRef
from app.demo import demo_settings
from app.live.bus import MemoryBus
from app.live.changes import Change
from app.webhooks import dialect as dialect_module
from app.webhooks.dialect import (
    HookSettings,
    Malformed,
    Poisoned,
    RoutedDialect,
    WebhookDialect,
)
from app.webhooks.dialects import DIALECTS, routes
from app.webhooks.intake import WebhookIntake, webhook_router
from app.webhooks.normalise import Normaliser
from app.webhooks.payloads import string
from app.webhooks.signatures import Unsigned
from app.webhooks.store import NewEvent, SQLiteEventStore, StoredEvent
from app.webhooks.worker import WebhookWorker

#: The modules that must not know one CRM from another.
GENERIC = ("intake", "normalise", "worker", "dialect", "payloads", "signatures", "store")
ACME_SECRET = "acme-signing-secret"


class AcmeWebhooks:
    """A CRM no package of crmgraph knows: hex HMAC of the body in ``X-Acme-Signature``."""

    kind = "acme"
    route = "acme"
    entity = "customer"

    def __init__(self, secret: SecretRef) -> None:
        self.secret = secret

    def hook(self, webhooks: Webhooks) -> HookSettings | None:
        return HookSettings((self.secret,), ())

    def verify(
        self,
        secrets: Sequence[str],
        method: str,
        uri: str,
        body: bytes,
        headers: Mapping[str, str],
        now: float,
        tolerance: float,
    ) -> None:
        expected = hmac.new(secrets[0].encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-acme-signature", "")):
            raise Unsigned("X-Acme-Signature does not match")

    def split(self, source: str, body: Any) -> list[NewEvent]:
        if not isinstance(body, dict):
            raise Malformed("an Acme delivery is one JSON object")
        return [NewEvent(f"{source}:{string(body, 'id', 'the event')}", self.kind, body)]

    def view(self, settings: Settings) -> str:
        return settings.source_of(self.entity)[0]

    def normalise(self, event: StoredEvent, view: str) -> Change:
        body = event.payload
        if body.get("type") != "contact.updated":
            raise Poisoned(f"Acme event type {body.get('type')!r} is not one it documents")
        contact = str(body.get("contact"))
        return Change(
            event.event_id, "customer", view, f"{view}:{contact}", None, event.received_at
        )


def signed(body: dict[str, Any], secret: str = ACME_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"x-acme-signature": signature, "content-type": "application/json"}


@pytest.fixture
def settings() -> Settings:
    return demo_settings("http://127.0.0.1:9")


@pytest.fixture
def dialects(tmp_path: Path) -> dict[str, WebhookDialect[Any]]:
    secret = tmp_path / "acme.secret"
    secret.write_text(ACME_SECRET)
    return {**DIALECTS, "acme": AcmeWebhooks(SecretRef(file=secret))}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    opened = SQLiteEventStore(tmp_path / "events.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


def client(intake: WebhookIntake, dialects: Mapping[str, WebhookDialect[Any]]) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(webhook_router(lambda: intake, dialects))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_every_dialect_is_keyed_by_its_kind_and_satisfies_the_protocol() -> None:
    for kind, dialect in DIALECTS.items():
        assert isinstance(dialect, WebhookDialect)
        assert dialect.kind == kind
        assert dialect.entity in ENTITY_KEYS
    assert set(routes()) == {"hubspot", "zendesk", "players"}
    for route, dialect in routes().items():
        assert isinstance(dialect, RoutedDialect)
        assert dialect.route == route == dialect.kind
    assert not isinstance(DIALECTS["salesforce"], RoutedDialect)  # polled: no route


def test_every_dialect_reads_the_settings_of_its_source(settings: Settings) -> None:
    for dialect in DIALECTS.values():
        dialect.view(settings)  # the demo's sources are of the kinds the dialects read


def _code_names(path: Path) -> list[str]:
    """The string constants (not docstrings) and identifiers of a module's code."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                names.append(node.value)
        elif isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.alias):
            names.append(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("module", GENERIC)
def test_the_generic_modules_name_no_crm(module: str) -> None:
    path = Path(dialect_module.__file__).with_name(f"{module}.py")
    vendors = {*DIALECTS, "salesforce", "player_stats"}
    named = [n for n in _code_names(path) if any(v in n.lower() for v in vendors)]
    assert named == []


async def test_a_made_up_crm_is_taken_in_and_applied_through_the_same_path(
    settings: Settings, dialects: dict[str, WebhookDialect[Any]], store: SQLiteEventStore
) -> None:
    intake = WebhookIntake(settings, store, dialects=dialects)
    event = {"id": "e-1", "type": "contact.updated", "contact": 1001}
    async with client(intake, dialects) as http:
        body, headers = signed(event)
        first = await http.post("/webhooks/acme", content=body, headers=headers)
        again = await http.post("/webhooks/acme", content=body, headers=headers)
        body, headers = signed(event, secret="leaked")
        forged = await http.post("/webhooks/acme", content=body, headers=headers)
        body, headers = signed({"type": "contact.updated"})
        keyless = await http.post("/webhooks/acme", content=body, headers=headers)
    assert (first.status_code, first.json()) == (200, {"accepted": 1, "duplicates": 0})
    assert (again.status_code, again.json()) == (200, {"accepted": 0, "duplicates": 1})
    assert (forged.status_code, forged.json()) == (
        401,
        {"error": "bad_signature", "message": "X-Acme-Signature does not match"},
    )
    assert (keyless.status_code, keyless.json()["error"]) == (400, "malformed")

    bus = MemoryBus()
    changes = bus.subscribe()
    worker = WebhookWorker(store, Normaliser(settings, dialects), None, bus)
    assert await worker.run_once()
    [change] = changes.ready(10)
    await changes.aclose()
    assert (change.event_id, change.entity, change.id) == (
        "hubspot:e-1",
        "customer",
        "hubspot:1001",
    )
    assert await store.dead_letter_count() == 0


async def test_a_made_up_crm_event_that_can_never_be_a_change_is_a_dead_letter(
    settings: Settings, dialects: dict[str, WebhookDialect[Any]], store: SQLiteEventStore
) -> None:
    intake = WebhookIntake(settings, store, dialects=dialects)
    async with client(intake, dialects) as http:
        body, headers = signed({"id": "e-2", "type": "contact.merged"})
        assert (await http.post("/webhooks/acme", content=body, headers=headers)).is_success
    worker = WebhookWorker(store, Normaliser(settings, dialects), None, MemoryBus())
    await worker.run_once()
    [dead] = await store.dead_letters()
    assert dead.last_error == "Acme event type 'contact.merged' is not one it documents"


async def test_a_crm_no_dialect_names_has_no_route(
    settings: Settings, store: SQLiteEventStore
) -> None:
    intake = WebhookIntake(settings, store)
    async with client(intake, DIALECTS) as http:
        answer = await http.post("/webhooks/acme", content=b"{}")
    assert answer.status_code == 404
    assert answer.json()["message"] == "no webhook route 'acme'; one of hubspot, zendesk, players"
