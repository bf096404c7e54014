"""Vendor events in, :class:`~app.live.changes.Change` out.

Two steps, at two times. At intake, :func:`split` checks a delivery's shape (a wrong shape is
refused with 400, nothing stored) and cuts it into events, each with its de-duplication key.
In the worker, :class:`Normaliser` turns one stored event into a ``Change`` with the record's
public id, its brand when the event tells it, and the domain fields it names; an event that
can never become a change (an unknown type, an id that is not one, a brand the config does
not map) raises :class:`~app.webhooks.dialect.Poisoned`, and goes to the dead letters at
once. Each CRM's own reading is its dialect's (:mod:`app.webhooks.dialects`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config import Settings
from app.live.changes import Change
from app.webhooks.dialect import Malformed, Poisoned, RoutedDialect, WebhookDialect
from app.webhooks.dialects import DIALECTS, dialect_of, in_use
from app.webhooks.store import NewEvent, StoredEvent


def split(
    kind: str,
    source: str,
    body: Any,
    dialects: Mapping[str, WebhookDialect[Any]] = DIALECTS,
) -> list[NewEvent]:
    """The events of one delivery from ``kind`` (a webhook route), whose records belong to
    the configured source ``source``; raises :class:`~app.webhooks.dialect.Malformed`."""
    dialect = dialect_of(kind, dialects)
    if not isinstance(dialect, RoutedDialect):
        raise Malformed(f"no webhook route {kind!r}")
    return dialect.split(source, body)


class Normaliser:
    """Turns stored events into changes, each by its CRM's dialect and the settings it
    reads (taken once, here)."""

    def __init__(
        self, settings: Settings, dialects: Mapping[str, WebhookDialect[Any]] = DIALECTS
    ) -> None:
        used = in_use(settings, dialects)
        self.dialects = {kind: dialect for kind, (dialect, _) in used.items()}
        self.views = {kind: view for kind, (_, view) in used.items()}
        self.sources = {
            kind: settings.source_of(dialect.entity)[0] for kind, dialect in self.dialects.items()
        }

    def source_of(self, kind: str) -> str:
        return self.sources[kind]

    def change(self, event: StoredEvent) -> Change:
        """The change ``event`` announces; raises :class:`~app.webhooks.dialect.Poisoned`."""
        dialect = dialect_of(event.kind, self.dialects)
        if dialect is None:
            raise Poisoned(f"no webhook source {event.kind!r}")
        return dialect.normalise(event, self.views[event.kind])
