"""The demo: the gateway wired to the four simulators on loopback, with their credentials.

The simulators' credentials are handed over through environment variables, exactly as an
operator hands real ones (the settings only ever name variables).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from app.auth.keys import KeyStore
from app.config import Settings, parse_config
from app.simulators import credentials
from app.simulators.world import BRANDS

DEMO_ENV = {
    "CRMGRAPH_DEMO_HUBSPOT_TOKEN": credentials.HUBSPOT_TOKEN,
    "CRMGRAPH_DEMO_SALESFORCE_CLIENT_ID": credentials.SALESFORCE_CLIENT_ID,
    "CRMGRAPH_DEMO_SALESFORCE_CLIENT_SECRET": credentials.SALESFORCE_CLIENT_SECRET,
    "CRMGRAPH_DEMO_ZENDESK_API_TOKEN": credentials.ZENDESK_API_TOKEN,
    "CRMGRAPH_DEMO_PLAYERS_API_KEY": credentials.PLAYERS_API_KEY,
    "CRMGRAPH_DEMO_HUBSPOT_WEBHOOK_SECRET": credentials.HUBSPOT_CLIENT_SECRET,
    "CRMGRAPH_DEMO_ZENDESK_WEBHOOK_SECRET": credentials.ZENDESK_WEBHOOK_SECRET,
    "CRMGRAPH_DEMO_PLAYERS_WEBHOOK_SECRET": credentials.PLAYERS_WEBHOOK_SECRET,
}
#: Where each simulator sends its signed webhooks, on the gateway (simulator prefix → route).
WEBHOOK_ROUTES = {"/hubspot": "hubspot", "/zendesk": "zendesk", "/players": "players"}
#: The webhook secret each simulator signs with (the demo's environment variable names it).
WEBHOOK_SECRETS = {
    "/hubspot": credentials.HUBSPOT_CLIENT_SECRET,
    "/zendesk": credentials.ZENDESK_WEBHOOK_SECRET,
    "/players": credentials.PLAYERS_WEBHOOK_SECRET,
}


def demo_webhooks() -> dict[str, object]:
    """The ``webhooks`` section of the demo: the simulators' signing secrets, by variable."""
    return {
        "hubspot": {"secret": {"env": "CRMGRAPH_DEMO_HUBSPOT_WEBHOOK_SECRET"}},
        "zendesk": {"secret": {"env": "CRMGRAPH_DEMO_ZENDESK_WEBHOOK_SECRET"}},
        "players": {"secrets": [{"env": "CRMGRAPH_DEMO_PLAYERS_WEBHOOK_SECRET"}]},
    }


def demo_config(simulators_url: str, keys_file: Path | None = None) -> dict[str, object]:
    """The config document of the demo, for simulators served at ``simulators_url``.

    Loopback callers without credentials come in as the read-only analyst; API keys live in
    ``keys_file`` when one is given."""
    auth: dict[str, object] = {"anonymous_role": "analyst", "anonymous_loopback_only": True}
    writes: dict[str, object] = {}
    if keys_file is not None:
        auth["keys_file"] = str(keys_file)
        writes["outbox_path"] = str(keys_file.parent / "outbox.sqlite3")
    return {
        "auth": auth,
        "writes": writes,
        "webhooks": demo_webhooks(),
        "brands": [b.key for b in BRANDS],
        "sources": {
            "hubspot": {
                "kind": "hubspot",
                "base_url": f"{simulators_url}/hubspot",
                "auth": {"token": {"env": "CRMGRAPH_DEMO_HUBSPOT_TOKEN"}},
            },
            "salesforce": {
                "kind": "salesforce",
                "base_url": f"{simulators_url}/salesforce",
                "api_version": credentials.SALESFORCE_API_VERSION,
                "auth": {
                    "client_id": {"env": "CRMGRAPH_DEMO_SALESFORCE_CLIENT_ID"},
                    "client_secret": {"env": "CRMGRAPH_DEMO_SALESFORCE_CLIENT_SECRET"},
                },
            },
            "zendesk": {
                "kind": "zendesk",
                "base_url": f"{simulators_url}/zendesk",
                "auth": {
                    "email": credentials.ZENDESK_EMAIL,
                    "api_token": {"env": "CRMGRAPH_DEMO_ZENDESK_API_TOKEN"},
                },
                "brands": {b.zendesk_brand_id: b.key for b in BRANDS},
            },
            "players": {
                "kind": "player_stats",
                "base_url": f"{simulators_url}/players",
                "auth": {"api_key": {"env": "CRMGRAPH_DEMO_PLAYERS_API_KEY"}},
                "brands": [b.key for b in BRANDS],
            },
        },
    }


def demo_settings(
    simulators_url: str, keys_file: Path | None = None, salesforce_poll_interval: float = 0
) -> Settings:
    """The demo's settings; ``salesforce_poll_interval`` (seconds) polls Salesforce's changes."""
    for name, value in DEMO_ENV.items():
        os.environ.setdefault(name, value)
    config = demo_config(simulators_url, keys_file)
    if salesforce_poll_interval:
        config["webhooks"] = {
            **demo_webhooks(),
            "salesforce_poll_interval": salesforce_poll_interval,
        }
    return parse_config(config, "demo")


def register_webhooks(simulators_url: str, gateway_url: str) -> list[str]:
    """Have each simulator send its signed webhooks to the gateway at ``gateway_url``; the
    problems met (a simulator that refused), for the operator to read."""
    problems = []
    with httpx.Client(base_url=simulators_url, timeout=5) as client:
        for prefix, route in WEBHOOK_ROUTES.items():
            target = {"url": f"{gateway_url}/webhooks/{route}", "secret": WEBHOOK_SECRETS[prefix]}
            try:
                response = client.put(f"{prefix}/__webhooks", json={**target, "mode": "normal"})
            except httpx.HTTPError as exc:
                problems.append(f"{prefix}: {type(exc).__name__}")
                continue
            if response.status_code != 200:
                problems.append(f"{prefix}: {response.status_code} {response.text[:200]}")
    return problems


#: The keys the demo makes: one per default role for every brand, and a one-brand support key.
DEMO_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("admin", ("*",)),
    ("analyst", ("*",)),
    ("marketing", ("*",)),
    ("support", ("*",)),
    ("support", ("luckyspin",)),
)


def demo_keys(keys_file: Path) -> list[tuple[str, tuple[str, ...], str]]:
    """Make the demo's keys in ``keys_file``: (role, brands, key) for each."""
    store = KeyStore(keys_file)
    made = []
    for role, brands in DEMO_KEYS:
        key, _ = store.create(role, brands, label=f"demo {role}")
        made.append((role, brands, key))
    return made
