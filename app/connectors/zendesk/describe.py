"""What a Zendesk account has: its ticket fields' status and priority values
(``GET /api/v2/ticket_fields``) and its brands (``GET /api/v2/brands``), checked against the
config's ``brands`` and the vocabularies crmgraph reads tickets with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.connectors.metadata import CheckContext, Checked, Finding
from app.mapping.converters import ZENDESK_TICKET_PRIORITIES, ZENDESK_TICKET_STATUSES

if TYPE_CHECKING:
    from app.connectors.zendesk.client import ZendeskClient


@dataclass(frozen=True, slots=True)
class AccountSetup:
    #: System field type (``status``, ``priority``) → the values it offers.
    options: dict[str, list[str]]
    #: Brand id → name.
    brands: dict[int, str]
    #: The ids of the account's own (custom) ticket fields.
    custom: frozenset[int] = frozenset()


async def account_setup(client: ZendeskClient) -> AccountSetup:
    options: dict[str, list[str]] = {}
    custom: set[int] = set()
    for field in await client.setup("ticket_fields"):
        if field.get("removable") and isinstance(field.get("id"), int):
            custom.add(field["id"])
        values = field.get("system_field_options")
        if isinstance(values, list):
            found = [str(v.get("value")) for v in values if isinstance(v, dict)]
            options[str(field.get("type"))] = found
    brands: dict[int, str] = {}
    for brand in await client.setup("brands"):
        if isinstance(brand.get("id"), int):
            brands[brand["id"]] = str(brand.get("name", ""))
    return AccountSetup(options, brands, frozenset(custom))


def problems(path: str, setup: AccountSetup, brands: Mapping[int, str]) -> list[Finding]:
    """Configured brands the account lacks (errors); account brands and status or priority
    values crmgraph cannot read (warnings)."""
    found: list[Finding] = []
    for brand_id, key in brands.items():
        if brand_id not in setup.brands:
            found.append(
                Finding(
                    f"{path}.brands.{brand_id}",
                    f"the account has no brand {brand_id} (for {key!r}); its brands are "
                    f"{_listed(setup.brands)}",
                )
            )
    for brand_id, name in setup.brands.items():
        if brand_id not in brands:
            found.append(
                Finding(
                    f"{path}.brands",
                    f"the account's brand {brand_id} ({name}) is not mapped: its tickets are "
                    "read without a brand",
                    "warning",
                )
            )
    tables: dict[str, Mapping[str, Any]] = {
        "status": ZENDESK_TICKET_STATUSES,
        "priority": ZENDESK_TICKET_PRIORITIES,
    }
    for kind, table in tables.items():
        for value in setup.options.get(kind, []):
            if value.lower() not in table:
                found.append(
                    Finding(path, f"the ticket {kind} {value!r} means none of ours", "warning")
                )
    return found


def _listed(brands: Mapping[int, str]) -> str:
    return ", ".join(f"{i} ({n})" for i, n in brands.items()) or "none"


def custom_problems(setup: AccountSetup, custom: Mapping[str, str]) -> list[Finding]:
    """Custom fields (name → path) naming a ticket field the account does not have."""
    found = []
    for name, path in custom.items():
        field = path.removeprefix("custom_fields.")
        if field != path and (not field.isdigit() or int(field) not in setup.custom):
            found.append(
                Finding(
                    f"entities.ticket.fields.{name}.path",
                    f"the account has no ticket field {field} (GET /api/v2/ticket_fields)",
                )
            )
    return found


async def check(client: ZendeskClient, ctx: CheckContext) -> Checked:
    setup = await account_setup(client)
    custom = {name: wire.reads[0] for name, wire in client.custom.items()}
    found = problems(f"sources.{client.name}", setup, client.brands)
    return Checked(found + custom_problems(setup, custom))
