"""A Zendesk event of a type crmgraph cannot apply is a dead letter at once, with its reason."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.simulators.server import RunningSimulators
from tests.integration.webhooks.conftest import (
    body_of,
    eventually,
    opened,
    webhook_gateway,
    zendesk_event,
    zendesk_headers,
)


async def test_a_zendesk_event_of_an_unknown_type_is_a_dead_letter_at_once(
    simulators: RunningSimulators, keys_file: Path, tmp_path: Path
) -> None:
    store_file = tmp_path / "webhooks.sqlite3"
    event = {**zendesk_event(4, event_id="odd-1"), "type": "zen:event-type:ticket.teleported"}
    with webhook_gateway(simulators.base_url, keys_file, store_file) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            body = body_of(event)
            response = await http.post(
                "/webhooks/zendesk", content=body, headers=zendesk_headers(body)
            )
            assert response.status_code == 200, response.text
        async with opened(store_file) as store:

            async def dead() -> bool:
                return bool(await store.dead_letter_count() == 1)

            await eventually(dead)
            [letter] = await store.dead_letters()
    assert letter.attempts <= 1
    assert "'zen:event-type:ticket.teleported' is not one crmgraph follows" in str(
        letter.last_error
    )
