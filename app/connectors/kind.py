"""A kind of CRM, as a connector package declares it: what the gateway needs to know of it.

Each package under ``app/connectors/<vendor>/`` ends in a ``kind.py`` that declares one
:class:`ConnectorKind`: its settings model (the ``kind:`` a config names), the entities it can
serve, its rate-limit dialect, how to build its connector from its settings, and how to ask
the CRM whether it has what the config names. The gateway,
the config validator and the rate budgets read the kind; none of them names a vendor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.connectors.http import UpstreamClient
from app.connectors.metadata import CheckContext, Checked
from app.connectors.settings import SourceBase
from app.domain.custom import CustomFieldSpec
from app.mapping.fieldmap import Wire, wire
from app.resilience.rates import RateDialect

#: The entities a source can serve, as the config's ``entities`` section names them.
ENTITY_KEYS = ("customer", "lead", "ticket", "player_stats")


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What building one source's connector needs besides its settings."""

    #: The source's name in the config (its records' ids start with it).
    name: str
    #: The source's HTTP client (breaker, budget, retries in force), given its auth.
    http: Callable[[httpx.Auth | None], UpstreamClient]
    #: Whether customers carry a player id to link their player stats by.
    link_players: bool = True
    #: The config's custom fields, by registry entity key (``customer``, ``player``…).
    custom: Mapping[str, Mapping[str, CustomFieldSpec]] = field(default_factory=dict)

    def wires(self, entity: str) -> dict[str, Wire]:
        """How the custom fields of ``entity`` are read from a record: by their path."""
        return {
            name: wire(spec.path, convert=spec.type.read)
            for name, spec in self.custom.get(entity, {}).items()
        }


@dataclass(frozen=True, slots=True)
class ConnectorKind:
    name: str
    settings: type[SourceBase]
    #: The entities its connector can serve: it implements those entities' source protocols
    #: (:mod:`app.connectors.base`).
    serves: frozenset[str]
    rates: RateDialect
    build: Callable[[Any, BuildContext], Any]
    #: Asks the CRM what it has (``config check --live``, ``/readyz``); None: it cannot be
    #: asked (it publishes no metadata).
    check: Callable[[Any, CheckContext], Awaitable[Checked]] | None = None

    def __post_init__(self) -> None:
        unknown = self.serves - set(ENTITY_KEYS)
        if unknown:
            raise ValueError(f"{self.name}: no entity named {sorted(unknown)}")
