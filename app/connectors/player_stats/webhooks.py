"""The player-stats service's webhooks (``POST /webhooks/players``): player events, signed.

Signature: ``X-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]`` over ``"<t>.<raw body>"``; any
``v1`` may match any of the configured secrets (rotation). A delivery is one event object
keyed by its ``id``, about one player of one brand; it becomes a player change naming the
player fields its ``changes`` read.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.connectors.player_stats.mapping import PLAYER_MAP
from app.connectors.player_stats.settings import PlayerStatsSource
from app.live.changes import Change
from app.webhooks.dialect import HookSettings, Malformed, Poisoned, served_by
from app.webhooks.payloads import epoch_ms, fields_read, member, string, vendor_id
from app.webhooks.signatures import EPOCH, Unsigned, digest, fresh, header
from app.webhooks.store import NewEvent, StoredEvent

if TYPE_CHECKING:
    from app.config import Settings, Webhooks

PLAYER_TYPES = ("player.stats.updated", "player.level.changed", "player.created")


def verify_players(
    secrets: Sequence[str], body: bytes, headers: Mapping[str, str], now: float, tolerance: float
) -> None:
    parts = [p.strip().partition("=") for p in header(headers, "x-signature").split(",")]
    stamps = [value for key, _, value in parts if key == "t"]
    candidates = [value for key, _, value in parts if key == "v1"]
    if len(stamps) != 1 or EPOCH.fullmatch(stamps[0]) is None or not candidates:
        raise Unsigned("X-Signature is not t=<unix seconds>,v1=<hex>")
    fresh(int(stamps[0]), now, tolerance)
    message = stamps[0].encode() + b"." + body
    # Every pair is compared, so the time taken does not tell which secret matched.
    matched = False
    for secret in secrets:
        expected = digest(secret, message).hex().encode()
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate.strip().lower().encode())
    if not matched:
        raise Unsigned("no v1 signature of X-Signature matches")


@dataclass(frozen=True, slots=True)
class PlayersView:
    source: str
    brands: frozenset[str]


class PlayerWebhooks:
    kind = "players"
    route = "players"
    entity = "player_stats"

    def hook(self, webhooks: Webhooks) -> HookSettings | None:
        section = webhooks.players
        return None if section is None else HookSettings(section.secrets, section.allow_ips)

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
        verify_players(secrets, body, headers, now, tolerance)

    def split(self, source: str, body: Any) -> list[NewEvent]:
        if not isinstance(body, dict):
            raise Malformed("the body must be a JSON object")
        where = "the event"
        string(body, "type", where)
        string(body, "brand", where)
        vendor_id(body, "player_id", where)
        return [NewEvent(f"{source}:{string(body, 'id', where)}", self.kind, body)]

    def view(self, settings: Settings) -> PlayersView:
        name, ps = served_by(settings, self.entity, PlayerStatsSource)
        return PlayersView(name, frozenset(ps.brands))

    def normalise(self, event: StoredEvent, view: PlayersView) -> Change:
        body = event.payload
        if body.get("type") not in PLAYER_TYPES:
            raise Poisoned(f"player-stats event type {body.get('type')!r} is not one it documents")
        brand = body.get("brand")
        if brand not in view.brands:
            raise Poisoned(f"player-stats brand {brand!r} is not one of this source's brands")
        changes = member(body, "changes")
        return Change(
            event.event_id,
            "player",
            view.source,
            str(body.get("player_id")),  # a player's public id is its own
            str(brand),
            occurred_at=epoch_ms(body.get("occurred_at")),
            fields=fields_read(PLAYER_MAP, changes),
            values=dict(changes),
        )


DIALECT = PlayerWebhooks()
