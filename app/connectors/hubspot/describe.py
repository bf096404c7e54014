"""What a HubSpot account has: its contact properties (``GET /crm/v3/properties/contacts``),
checked against the properties the config and the customer field map name.

HubSpot ignores a property a read names that does not exist, so a wrong ``brand_property``
gives every customer no brand and brand-scoped callers see nobody: only this check says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from app.connectors.metadata import CheckContext, Checked, Finding

if TYPE_CHECKING:
    from app.connectors.hubspot.client import HubSpotClient


async def contact_properties(client: HubSpotClient) -> dict[str, dict[str, Any]]:
    """The account's contact properties by name."""
    return {str(p.get("name")): p for p in await client.properties("contacts")}


def problems(
    path: str,
    properties: dict[str, dict[str, Any]],
    brand_property: str,
    player_id_property: str | None,
    wire_fields: Iterable[str],
    brands: Sequence[str],
) -> list[Finding]:
    """What ``sources.<name>`` (``path``) and the field map name that the account lacks."""
    found: list[Finding] = []
    named = {
        brand_property: "brand_property",
        **({player_id_property: "player_id_property"} if player_id_property else {}),
    }
    for name, setting in named.items():
        if name not in properties:
            found.append(
                Finding(
                    f"{path}.{setting}",
                    f"the account has no contact property {name}; set {setting} to the "
                    "property's internal name (Settings → Properties)",
                )
            )
    for name in dict.fromkeys(wire_fields):
        if name not in named and name not in properties:
            found.append(Finding(path, f"the account has no contact property {name}"))
    options = properties.get(brand_property, {}).get("options") or []
    values = {str(o.get("value")) for o in options if isinstance(o, dict)}
    if values:  # an enumeration: a brand it lacks can be neither written nor found
        for key in brands:
            if key not in values:
                found.append(
                    Finding(
                        f"brands.{key}",
                        f"the contact property {brand_property} has no option {key!r}",
                        "warning",
                    )
                )
    return found


async def check(client: HubSpotClient, ctx: CheckContext) -> Checked:
    properties = await contact_properties(client)
    return Checked(
        problems(
            f"sources.{client.name}",
            properties,
            client.brand_property,
            client.player_id_property,
            client.map.wire_fields(),
            ctx.brands,
        )
    )
