"""Every kind of CRM crmgraph can talk to, by the name a config's ``kind:`` gives it.

Adding a CRM is adding its package (see :mod:`app.connectors.kind`) and one line here.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from app.connectors.dynamics.kind import KIND as DYNAMICS
from app.connectors.hubspot.kind import KIND as HUBSPOT
from app.connectors.kind import ConnectorKind
from app.connectors.player_stats.kind import KIND as PLAYER_STATS
from app.connectors.salesforce.kind import KIND as SALESFORCE
from app.connectors.zendesk.kind import KIND as ZENDESK

KINDS: dict[str, ConnectorKind] = {
    k.name: k for k in (HUBSPOT, SALESFORCE, ZENDESK, PLAYER_STATS, DYNAMICS)
}


def kind_of(name: str) -> ConnectorKind:
    return KINDS[name]


def serving(entity: str) -> list[str]:
    """The kinds that can serve ``entity``."""
    return [k.name for k in KINDS.values() if entity in k.serves]


def source_settings() -> Any:
    """The settings of any kind, told apart by their ``kind`` (for the config's ``sources``)."""
    models = tuple(k.settings for k in KINDS.values())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
