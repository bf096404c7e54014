"""What one CRM's change events need, declared by its package in ``webhooks.py``.

A :class:`WebhookDialect` turns the CRM's stored events into changes; a
:class:`RoutedDialect` also takes them in at ``POST /webhooks/<route>``: it names the
settings of its route, checks a delivery's signature and cuts the delivery into events. The
generic intake, normaliser and worker only ever reach a CRM through these (see
:mod:`app.webhooks.dialects`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from pydantic import IPvAnyNetwork

from app.connectors.settings import SecretRef, SourceBase

if TYPE_CHECKING:
    from app.config import Settings, Webhooks
    from app.live.changes import Change
    from app.webhooks.store import NewEvent, StoredEvent

#: What a dialect reads of the settings to normalise its events, taken once.
V = TypeVar("V")
S = TypeVar("S", bound=SourceBase)


class Malformed(ValueError):
    """A delivery whose JSON is not the shape its CRM documents (refused with 400)."""


class Poisoned(ValueError):
    """A stored event that can never become a change: no retry would help."""


@dataclass(frozen=True, slots=True)
class HookSettings:
    """A route's section of ``webhooks``: the secrets a delivery may be signed with, and the
    networks that may deliver (none: any)."""

    secrets: Sequence[SecretRef]
    allow_ips: Sequence[IPvAnyNetwork]


@runtime_checkable
class WebhookDialect(Protocol[V]):
    """One CRM's change events, however they arrive: each stored event to a change."""

    @property
    def kind(self) -> str:
        """The ``kind`` its stored events carry (its key in ``DIALECTS``)."""
        ...

    @property
    def entity(self) -> str:
        """The ``entities`` key naming the source its events are about (``customer``)."""
        ...

    def view(self, settings: Settings) -> V:
        """What :meth:`normalise` reads of ``settings``; ValueError when the configured
        source is not of this CRM."""
        ...

    def normalise(self, event: StoredEvent, view: V) -> Change:
        """The change ``event`` announces; raises :class:`Poisoned`."""
        ...


@runtime_checkable
class RoutedDialect(WebhookDialect[V], Protocol[V]):
    """A CRM that delivers signed events to ``POST /webhooks/<route>``."""

    @property
    def route(self) -> str: ...

    def hook(self, webhooks: Webhooks) -> HookSettings | None:
        """Its route's settings; None when the route is not configured (404)."""
        ...

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
        """Whether one of ``secrets`` signed this delivery (``headers`` keyed in lower case,
        ``uri`` as the CRM called it) within ``tolerance`` seconds of ``now``; raises
        :class:`~app.webhooks.signatures.Unsigned` or
        :class:`~app.webhooks.signatures.Stale`."""
        ...

    def split(self, source: str, body: Any) -> list[NewEvent]:
        """The events of one delivery (parsed JSON) about records of the configured source
        ``source``, each with its de-duplication key; raises :class:`Malformed`."""
        ...


def served_by(settings: Settings, entity: str, model: type[S]) -> tuple[str, S]:
    """The name and settings of the source serving ``entity``, which must be a ``model``."""
    name, source = settings.source_of(entity)
    if not isinstance(source, model):
        raise ValueError(f"entities.{entity}: this part needs a {model.__name__}")
    return name, source
