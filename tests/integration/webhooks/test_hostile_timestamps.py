"""A signed timestamp no clock could hold (huge, overflowing, negative, not a number, not
ASCII digits) is a bad signature like any other: 401, audited, counted, nothing stored —
never a 500."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.simulators.server import RunningSimulators
from tests.integration.observability.conftest import Scrape, parse_metrics
from tests.integration.webhooks.conftest import (
    body_of,
    hubspot_event,
    hubspot_headers,
    opened,
    player_event,
    players_headers,
    webhook_gateway,
    zendesk_event,
    zendesk_headers,
)

HUGE = "9" * 30
ENORMOUS = "9" * 5000  # beyond Python's int() digit limit

#: (source, header, value) — each header signed otherwise correctly.
HOSTILE = [
    ("players", "t", HUGE),
    ("players", "t", ENORMOUS),
    ("players", "t", "-1"),
    ("players", "t", "nan"),
    ("players", "t", "1e308"),
    ("players", "t", "²³"),  # str.isdigit() says yes, int() says no (sent as Latin-1)
    ("hubspot", "X-HubSpot-Request-Timestamp", HUGE),
    ("hubspot", "X-HubSpot-Request-Timestamp", ENORMOUS),
    ("hubspot", "X-HubSpot-Request-Timestamp", "-1000"),
    ("hubspot", "X-HubSpot-Request-Timestamp", "NaN"),
    ("hubspot", "X-HubSpot-Request-Timestamp", "inf"),
    ("hubspot", "X-HubSpot-Request-Timestamp", "²"),
    ("zendesk", "X-Zendesk-Webhook-Signature-Timestamp", HUGE),
    ("zendesk", "X-Zendesk-Webhook-Signature-Timestamp", "0001-01-01T00:00:00+14:00"),
    ("zendesk", "X-Zendesk-Webhook-Signature-Timestamp", "9999-12-31T23:59:59-14:00"),
    ("zendesk", "X-Zendesk-Webhook-Signature-Timestamp", "-2024-01-01T00:00:00Z"),
    ("zendesk", "X-Zendesk-Webhook-Signature-Timestamp", "NaN"),
]


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile") / "webhooks.sqlite3"


@pytest.fixture(scope="module")
def gateway(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], store_file: Path
) -> Iterator[str]:
    with webhook_gateway(simulators.base_url, keys_file, store_file) as url:
        yield url


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        yield client


def hostile_delivery(
    gateway: str, source: str, header: str, value: str
) -> tuple[bytes, dict[str, str]]:
    if source == "players":
        body = body_of(player_event("p-000001", "northstar", {"level": 3}))
        headers = players_headers(body)
        v1 = headers["X-Signature"].split(",", 1)[1]
        return body, {**headers, "X-Signature": f"t={value},{v1}"}
    if source == "hubspot":
        body = body_of([hubspot_event(1001, "firstname", "Ada")])
        return body, {**hubspot_headers(f"{gateway}/webhooks/hubspot", body), header: value}
    body = body_of(zendesk_event(7))
    return body, {**zendesk_headers(body), header: value}


async def refusals(http: httpx.AsyncClient, source: str) -> float:
    text = (await http.get("/metrics")).text
    scrape = Scrape(parse_metrics(text))
    refused = scrape.value("crmgraph_webhook_events_total", source=source)
    return refused - sum(
        scrape.value("crmgraph_webhook_events_total", source=source, outcome=outcome)
        for outcome in ("accepted", "duplicate")
    )


@pytest.mark.parametrize(
    ("source", "header", "value"), HOSTILE, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(HOSTILE)]
)
async def test_a_timestamp_no_clock_holds_is_refused_with_401_audited_and_counted(
    http: httpx.AsyncClient,
    gateway: str,
    store_file: Path,
    caplog: pytest.LogCaptureFixture,
    source: str,
    header: str,
    value: str,
) -> None:
    body, headers = hostile_delivery(gateway, source, header, value)
    before = await refusals(http, source)
    with caplog.at_level(logging.WARNING, logger="crmgraph.audit"):
        # Latin-1, as HTTP/1.1 carries header bytes and Starlette decodes them.
        raw = {name: value.encode("latin-1") for name, value in headers.items()}
        response = await http.post(f"/webhooks/{source}", content=body, headers=raw)
    assert response.status_code == 401, response.text
    [audit] = [r for r in caplog.records if getattr(r, "event", None) == "webhook.refused"]
    assert audit.__dict__["source"] == source
    assert await refusals(http, source) == before + 1
    async with opened(store_file) as store:
        assert await store.depth() == 0
        assert await store.dead_letter_count() == 0
