"""The demo registers the gateway's webhook routes with the simulators, which then sign with
the secrets the demo's config names."""

from __future__ import annotations

import asyncio

import httpx

from app.demo import DEMO_ENV, demo_settings, register_webhooks
from app.simulators.server import RunningSimulators


async def test_each_simulator_is_told_where_to_send_and_the_config_has_its_secret(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> None:
    gateway = "http://127.0.0.1:8000"
    assert await asyncio.to_thread(register_webhooks, simulators.base_url, gateway) == []
    for prefix, route in [
        ("/hubspot", "hubspot"),
        ("/zendesk", "zendesk"),
        ("/players", "players"),
    ]:
        target = (await control.get(f"{prefix}/__webhooks")).json()
        await control.delete(f"{prefix}/__webhooks")  # nothing listens there
        assert target["url"] == f"{gateway}/webhooks/{route}"
        assert "secret" not in target

    settings = demo_settings(simulators.base_url, salesforce_poll_interval=2.0)
    webhooks = settings.webhooks
    assert webhooks.salesforce_poll_interval == 2.0
    assert webhooks.hubspot is not None
    assert (
        webhooks.hubspot.secret.read().get_secret_value()
        == DEMO_ENV["CRMGRAPH_DEMO_HUBSPOT_WEBHOOK_SECRET"]
    )
