"""The back office's webhooks, as ``player-stats.md`` ("Webhooks") describes them.

One event a request: ``{"id": "evt_…", "type", "occurred_at": <epoch ms>, "brand",
"player_id", "changes": {field: new value as the API renders it}}``, signed ``X-Signature:
t=…,v1=…`` with one ``v1`` a secret. A change of level is ``player.level.changed``, any other
``player.stats.updated``. No route creates players, so ``player.created`` is never sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.simulators.player_stats.store import PlayerStats
from app.simulators.webhooks import Scheme, WebhookSender, player_stats_signature

SCHEME = Scheme(player_stats_signature, several_secrets=True)


class PlayerEvents:
    """Turns player writes into webhook events for ``sender``."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender

    def changed(self, player: PlayerStats, changes: dict[str, Any]) -> None:
        if not changes:
            return
        kind = "player.level.changed" if "level" in changes else "player.stats.updated"
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": kind,
            "occurred_at": player["updated_at"],
            "brand": player["brand"],
            "player_id": player["player_id"],
            "changes": changes,
        }
        self.sender.emit([event])
