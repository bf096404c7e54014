"""A change to one record, as every part of the live pipeline sees it.

Webhook intake and the Salesforce poller turn vendor events into ``Change``; the worker
forgets the record's cached groups and publishes the change on the ``ChangeBus``;
subscriptions read it from there and shape it for each subscriber as a query would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Entity = Literal["customer", "lead", "ticket", "player"]


@dataclass(frozen=True, slots=True)
class Change:
    """``id`` is the record's public id: ``"<source>:<native id>"`` for customers, leads and
    tickets (as in the GraphQL contract), the player id for players. ``event_id`` is unique
    per vendor event (``"<source>:<vendor event id>"``): duplicates share it."""

    event_id: str
    entity: Entity
    source: str
    id: str
    brand: str | None
    occurred_at: float  # epoch seconds
    fields: tuple[str, ...] = ()  # domain field names known to have changed; () = unknown
    values: dict[str, Any] = field(default_factory=dict)  # new values the event carried

    @property
    def native_id(self) -> str:
        return self.id.split(":", 1)[1] if ":" in self.id else self.id

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["fields"] = list(self.fields)
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Change:
        return cls(**{**body, "fields": tuple(body.get("fields", ()))})


class ChangeBus(Protocol):
    """Fan-out of changes to subscribers: in-process, or through Redis to every instance."""

    async def publish(self, change: Change) -> None: ...

    def subscribe(self) -> ChangeStream:
        """Changes published from the moment of this call, until the stream is closed."""
        ...


class ChangeStream(Protocol):
    def __aiter__(self) -> AsyncIterator[Change]: ...

    async def __anext__(self) -> Change: ...

    def ready(self, limit: int) -> list[Change]:
        """Up to ``limit`` changes waiting now, without waiting for more."""
        ...

    async def aclose(self) -> None: ...
