"""The player-stats back office: ``X-API-Key`` plus the brand in ``X-Brand-Key``.

The service answers whole records (it has no projection), so ``fields`` only decides what is
read into the domain object. Each request names one brand: a batch is split by brand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from app.connectors.base import Fields
from app.connectors.errors import UpstreamProtocolError, UpstreamRejected
from app.connectors.http import UpstreamClient, error_text, said
from app.connectors.player_stats.mapping import PLAYER_MAP
from app.connectors.secret import LiveSecret
from app.domain.entities import make
from app.domain.models import PlayerStats
from app.mapping.fieldmap import FieldMap, Wire

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
BATCH_GET = "/v1/players/stats:batchGet"


def describe_error(response: httpx.Response) -> str:
    error = _error_of(response)
    return error_text(error.get("code"), error.get("message"))


def _error_of(response: httpx.Response) -> dict[str, Any]:
    """The answer's ``error`` object; empty when the body has none (not JSON, no body)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


class PlayerStatsClient:
    batch_limit = BATCH_LIMIT

    def __init__(
        self,
        name: str,
        http: UpstreamClient,
        api_key: LiveSecret,
        brands: Sequence[str],
        custom: Mapping[str, Wire] | None = None,
    ) -> None:
        self.name = name
        #: The config's custom fields, read by their path in a player's JSON.
        self.custom = dict(custom or {})
        self.map: FieldMap = PLAYER_MAP.with_fields(self.custom)
        self.http = http
        self.brands = tuple(brands)
        self._api_key = api_key

    async def players_by_id(
        self, brand: str, ids: Sequence[str], fields: Fields
    ) -> dict[str, PlayerStats]:
        keys = list(dict.fromkeys(ids))
        if brand not in self.brands or not keys:
            return {}
        headers = {"X-API-Key": self._api_key.value(), "X-Brand-Key": brand}
        answers = await asyncio.gather(
            *(
                self._batch_get(keys[i : i + BATCH_LIMIT], headers)
                for i in range(0, len(keys), BATCH_LIMIT)
            )
        )
        found: dict[str, PlayerStats] = {}
        for answer in answers:
            # The answer's order is not the order asked: match by player_id.
            for record in self.http.records(answer, "players"):
                player = self._player(record, fields)
                found[player.player_id] = player
        return found

    async def award_points(
        self, brand: str, player_id: str, delta: int, reason: str, key: str
    ) -> None:
        """Award (or take back) points; the service applies one ``key`` once."""
        headers = {"X-API-Key": self._api_key.value(), "X-Brand-Key": brand}
        route = "/v1/players/{player_id}/points"
        response = await self.http.send(
            "POST",
            f"/v1/players/{player_id}/points",
            route=f"POST {route}",
            json={"delta": delta, "reason": reason, "idempotency_key": key},
            headers=headers,
            idempotent=True,  # the idempotency key makes a retry safe
        )
        if response.status_code in (400, 404, 409, 422):
            error = _error_of(response)
            code = str(error.get("code") or "REJECTED")
            field = ["delta"] if code == "INSUFFICIENT_POINTS" else []
            message = said(describe_error, response)
            raise UpstreamRejected(
                self.name,
                message,
                status=response.status_code,
                problems=[(field, code, str(error.get("message") or message)[:300])],
            )
        self.http.raise_for_status(response, describe_error)

    async def _batch_get(self, ids: list[str], headers: dict[str, str]) -> Any:
        response = await self.http.send(
            "POST",
            BATCH_GET,
            route=f"POST {BATCH_GET}",
            json={"player_ids": ids},
            headers=headers,
            items=len(ids),
            idempotent=True,  # a read, sent as POST for its body
        )
        self.http.raise_for_status(response, describe_error)
        answer = self.http.json(response)
        if not isinstance(answer, dict):
            raise UpstreamProtocolError(self.name, "batchGet answer is not an object")
        return answer

    def _player(self, record: dict[str, Any], fields: Fields) -> PlayerStats:
        player_id = record.get("player_id")
        if not isinstance(player_id, str) or not player_id:
            raise UpstreamProtocolError(self.name, "a player came without a player_id")
        mapped = self.map.read(record, [*fields, "brand", "email"])
        if mapped.problems:
            log.warning(
                "unreadable fields in a record",
                extra={"source": self.name, "record": player_id, "problems": mapped.problems},
            )
        return make(PlayerStats, mapped.values, player_id=player_id, problems=mapped.problems)
