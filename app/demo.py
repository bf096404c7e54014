"""The demo: the gateway wired to the four simulators on loopback, with their credentials.

``crmgraph serve`` without ``--config`` keeps the demo in a folder (``.crmgraph-demo/`` by
default, see :class:`DemoFolder`): an ordinary config file, ``crmgraph.yaml``, that the demo's
gateway loads like any deployment's and that every other command can be pointed at
(``crmgraph keys list --config .crmgraph-demo/crmgraph.yaml``), beside the API keys, the outbox
and the webhook store, which are kept across runs. The config names the simulators'
credentials (fixtures, not secrets) as secret files in ``secrets/``, so a plain shell needs no
environment variables; the tests' configs name them by environment variable (``DEMO_ENV``),
as an operator hands real ones. Either way the settings only ever name where a secret is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

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
    "CRMGRAPH_DEMO_DYNAMICS_CLIENT_ID": credentials.DYNAMICS_CLIENT_ID,
    "CRMGRAPH_DEMO_DYNAMICS_CLIENT_SECRET": credentials.DYNAMICS_CLIENT_SECRET,
}
#: Where each simulator sends its signed webhooks, on the gateway (simulator prefix → route).
WEBHOOK_ROUTES = {"/hubspot": "hubspot", "/zendesk": "zendesk", "/players": "players"}
#: The webhook secret each simulator signs with (the demo's environment variable names it).
WEBHOOK_SECRETS = {
    "/hubspot": credentials.HUBSPOT_CLIENT_SECRET,
    "/zendesk": credentials.ZENDESK_WEBHOOK_SECRET,
    "/players": credentials.PLAYERS_WEBHOOK_SECRET,
}


#: Where the config says one of the ``DEMO_ENV`` secrets is: ``{"env": name}`` or a file.
SecretPlace = Callable[[str], dict[str, str]]


def by_env(name: str) -> dict[str, str]:
    """The secret is in the environment variable ``name`` (``DEMO_ENV`` sets them)."""
    return {"env": name}


def demo_webhooks(secret: SecretPlace = by_env) -> dict[str, object]:
    """The ``webhooks`` section of the demo: the simulators' signing secrets."""
    return {
        "hubspot": {"secret": secret("CRMGRAPH_DEMO_HUBSPOT_WEBHOOK_SECRET")},
        "zendesk": {"secret": secret("CRMGRAPH_DEMO_ZENDESK_WEBHOOK_SECRET")},
        "players": {"secrets": [secret("CRMGRAPH_DEMO_PLAYERS_WEBHOOK_SECRET")]},
    }


#: The region a phone number of each brand's is read in without its +country code: the
#: brand's own country (a Brazilian casino's players dial Brazilian numbers).
PHONE_REGIONS = {b.key: b.country for b in BRANDS}


def demo_config(
    simulators_url: str,
    keys_file: Path | None = None,
    secret: SecretPlace = by_env,
    crm: str = "default",
) -> dict[str, object]:
    """The config document of the demo, for simulators served at ``simulators_url``.

    Loopback callers without credentials come in as the read-only analyst; API keys live in
    ``keys_file`` when one is given (the outbox beside it); ``secret`` says where each of the
    simulators' credentials is read from. ``crm``: ``default`` (HubSpot customers, Salesforce
    leads, Zendesk tickets) or ``dynamics`` (all three from Dynamics 365)."""
    auth: dict[str, object] = {"anonymous_role": "analyst", "anonymous_loopback_only": True}
    writes: dict[str, object] = {"phone_regions": dict(PHONE_REGIONS)}
    if keys_file is not None:
        auth["keys_file"] = str(keys_file)
        writes["outbox_path"] = str(keys_file.parent / "outbox.sqlite3")
    config: dict[str, object] = {
        "auth": auth,
        "writes": writes,
        "webhooks": demo_webhooks(secret),
        "brands": [b.key for b in BRANDS],
        "sources": {
            "hubspot": {
                "kind": "hubspot",
                "base_url": f"{simulators_url}/hubspot",
                "auth": {"token": secret("CRMGRAPH_DEMO_HUBSPOT_TOKEN")},
                # The simulator does not hold searches to HubSpot's 4 a second unless its
                # __config says so: the demo, the tests and the benchmarks go at full speed.
                "search_limit": None,
            },
            "salesforce": {
                "kind": "salesforce",
                "base_url": f"{simulators_url}/salesforce",
                "api_version": credentials.SALESFORCE_API_VERSION,
                "auth": {
                    "client_id": secret("CRMGRAPH_DEMO_SALESFORCE_CLIENT_ID"),
                    "client_secret": secret("CRMGRAPH_DEMO_SALESFORCE_CLIENT_SECRET"),
                },
            },
            "zendesk": {
                "kind": "zendesk",
                "base_url": f"{simulators_url}/zendesk",
                "auth": {
                    "email": credentials.ZENDESK_EMAIL,
                    "api_token": secret("CRMGRAPH_DEMO_ZENDESK_API_TOKEN"),
                },
                "brands": {b.zendesk_brand_id: b.key for b in BRANDS},
                # Nor exports to Zendesk's 100 a minute (the same: its __config can).
                "export_limit": None,
            },
            "players": {
                "kind": "player_stats",
                "base_url": f"{simulators_url}/players",
                "auth": {"api_key": secret("CRMGRAPH_DEMO_PLAYERS_API_KEY")},
                "brands": [b.key for b in BRANDS],
            },
        },
    }
    if crm == "dynamics":
        sources = config["sources"]
        assert isinstance(sources, dict)
        sources["dynamics"] = dynamics_source(simulators_url, secret)
        config["entities"] = {
            "customer": "dynamics",
            "lead": "dynamics",
            "ticket": "dynamics",
            "player_stats": "players",
        }
    return config


def dynamics_source(simulators_url: str, secret: SecretPlace = by_env) -> dict[str, object]:
    """The Dynamics simulator as a source; it serves the identity platform's token endpoint
    itself, so the config names that instead of login.microsoftonline.com."""
    org = f"{simulators_url}/dynamics"
    return {
        "kind": "dynamics",
        "base_url": org,
        "auth": {
            "tenant_id": credentials.DYNAMICS_TENANT_ID,
            "client_id": secret("CRMGRAPH_DEMO_DYNAMICS_CLIENT_ID"),
            "client_secret": secret("CRMGRAPH_DEMO_DYNAMICS_CLIENT_SECRET"),
            "token_url": f"{org}/{credentials.DYNAMICS_TENANT_ID}/oauth2/v2.0/token",
        },
    }


def demo_env() -> None:
    """The simulators' credentials in the environment, where the tests' configs name them."""
    for name, value in DEMO_ENV.items():
        os.environ.setdefault(name, value)


def demo_settings(
    simulators_url: str, keys_file: Path | None = None, salesforce_poll_interval: float = 0
) -> Settings:
    """The demo's settings, its credentials by environment variable (set here); with
    ``salesforce_poll_interval`` (seconds) Salesforce's changes are polled."""
    demo_env()
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


#: A demo API key: its role, its brands, the key itself.
DemoKey = tuple[str, tuple[str, ...], str]
#: The keys the demo makes: one per default role for every brand, and a one-brand support key.
DEMO_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("admin", ("*",)),
    ("analyst", ("*",)),
    ("marketing", ("*",)),
    ("support", ("*",)),
    ("support", ("luckyspin",)),
)


#: Seconds between the demo's polls of Salesforce for changed leads.
DEMO_POLL_INTERVAL = 2.0
_HEADER = """\
# The crmgraph demo's config, written by `crmgraph serve` (without --config) at every start:
# edits here are overwritten. Point any command at it, e.g.
#   crmgraph keys list --config {config}
# Relative paths are read from this folder. The secret files hold the simulators' fixture
# credentials (not secrets). This folder is kept across runs; `rm -rf {folder}` resets it.
"""


class DemoFolder:
    """Where the demo keeps its config, secrets, API keys, outbox and webhook store."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self.config = self.path / "crmgraph.yaml"
        self.keys_file = self.path / "keys.json"
        #: The demo's own API keys in full, to show them again on the next start.
        self.demo_keys_file = self.path / "demo-keys.txt"
        self.secrets = self.path / "secrets"

    def write_config(self, simulators_url: str, crm: str = "default") -> Path:
        """Write the simulators' credentials as secret files, and ``crmgraph.yaml`` naming
        them and the simulators at ``simulators_url`` (``crm``: see :func:`demo_config`);
        the config's path."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        for name, value in DEMO_ENV.items():
            _write_private(self._secret_file(name), value + "\n")
        config = demo_config(
            simulators_url,
            Path(self.keys_file.name),
            lambda name: {"file": str(self._secret_file(name))},
            crm,
        )
        webhooks = config["webhooks"]
        assert isinstance(webhooks, dict)
        webhooks["store_path"] = "webhooks.sqlite3"
        if crm == "default":  # Salesforce's lead changes are polled
            webhooks["salesforce_poll_interval"] = DEMO_POLL_INTERVAL
        header = _HEADER.format(config=self.config, folder=self.path)
        _replace(self.config, header + yaml.safe_dump(config, sort_keys=False), mode=0o644)
        return self.config

    def _secret_file(self, name: str) -> Path:
        """``CRMGRAPH_DEMO_HUBSPOT_TOKEN`` is kept in ``secrets/hubspot-token``."""
        return self.secrets / name.removeprefix("CRMGRAPH_DEMO_").lower().replace("_", "-")

    def demo_keys(self, store: KeyStore) -> list[DemoKey]:
        """(role, brands, key) for each of ``DEMO_KEYS``: the key of an earlier run while
        ``store`` still takes it, else a new one (and the file of demo keys updated)."""
        earlier = _read_demo_keys(self.demo_keys_file)
        keys = []
        for role, brands in DEMO_KEYS:
            key = earlier.get((role, brands))
            record = store.verify(key) if key is not None else None
            if key is None or record is None or (record.role, record.brands) != (role, brands):
                key, _ = store.create(role, brands, label=f"demo {role}")
            keys.append((role, brands, key))
        lines = [f"{role} {','.join(brands)} {key}\n" for role, brands, key in keys]
        _write_private(self.demo_keys_file, "".join(lines))
        return keys


def _read_demo_keys(path: Path) -> dict[tuple[str, tuple[str, ...]], str]:
    """The keys of ``demo-keys.txt`` (``role brands key`` a line) by role and brands."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            role, brands, key = parts
            found[(role, tuple(brands.split(",")))] = key
    return found


def _write_private(path: Path, text: str) -> None:
    """``text`` in a file only its owner may read."""
    _replace(path, text, mode=0o600)


def _replace(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` whole (a reader sees the old file or the new one)."""
    part = path.with_name(f".{path.name}.part")
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(part, mode)  # the umask may have taken bits away, or the file existed
    os.replace(part, path)
