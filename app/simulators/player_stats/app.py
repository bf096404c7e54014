"""The player-stats back office over HTTP, as ``player-stats.md`` describes it.

Routes live under ``/v1``; every one needs ``X-API-Key``, and every one but ``GET /v1/brands``
names a brand in ``X-Brand-Key``. A brand the key may not name is refused with ``400
BRAND_NOT_ALLOWED``: the contract's OpenAPI file declares no ``403`` on any operation.

``POST /__change {"brand", "player_id", "changes": {"level": 7, ...}}`` (no credentials; a
control route) changes a player as the back office's own staff would, and sends its webhook.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from app.simulators.control import RateLimit, SimulatorControl
from app.simulators.credentials import PLAYERS_API_KEY
from app.simulators.player_stats.dialect import PlayerStatsDialect, code_for, error_body
from app.simulators.player_stats.events import SCHEME, PlayerEvents
from app.simulators.player_stats.store import (
    Award,
    IdempotencyConflict,
    InsufficientPoints,
    PlayerNotFound,
    PlayerStatsStore,
    Position,
)
from app.simulators.responses import JSONResponse
from app.simulators.webhooks import WebhookSender
from app.simulators.world import LEVEL_NAMES, Brand, World

#: What the service advertises when no limit is configured: 1,000 requests a minute per key.
NOMINAL = RateLimit(requests=1000, per_seconds=60)
MAX_BATCH_IDS = 500
MAX_PAGE = 1000
DEFAULT_PAGE = 100
_DIGITS = re.compile(r"[0-9]{1,19}")
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An error answer in the service's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class BatchGetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    player_ids: list[str]


class AwardPointsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    delta: int
    reason: str = Field(min_length=1)
    idempotency_key: str = Field(min_length=1)

    @field_validator("delta")
    @classmethod
    def _non_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("delta must not be zero")
        return delta


class BackOfficeFields(BaseModel):
    """The fields the back office's staff may set on a player."""

    model_config = ConfigDict(extra="forbid", strict=True)
    level: int | None = Field(None, ge=1, le=len(LEVEL_NAMES))
    points_balance: int | None = Field(None, ge=0)
    points_ever: int | None = Field(None, ge=0)
    missions_completed: int | None = Field(None, ge=0)
    tournaments_played: int | None = Field(None, ge=0)
    bets_total_minor: int | None = Field(None, ge=0)
    wins_total_minor: int | None = Field(None, ge=0)
    bonus_total_minor: int | None = Field(None, ge=0)
    predicted_ltv_minor: int | None = Field(None, ge=0)
    churn_score: float | None = Field(None, ge=0, le=1)


class BackOfficeChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    brand: str
    player_id: str
    changes: BackOfficeFields


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ApiError(400, "INVALID_REQUEST", problems) from exc


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, "INVALID_ARGUMENT", f"{name} must be an integer {bounds}")
    return value


def encode_cursor(brand: str, position: Position) -> str:
    raw = json.dumps([brand, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(brand: str, cursor: str) -> Position:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError):
        value = None
    match value:
        case [str(owner), int(updated_at), str(player_id)] if owner == brand:
            return updated_at, player_id
    raise ApiError(400, "INVALID_CURSOR", "cursor is not one this listing handed out")


class PlayerStatsApi:
    """The endpoints, over one store; the brands are those the API key may name."""

    def __init__(
        self, store: PlayerStatsStore, brands: Sequence[Brand], events: PlayerEvents
    ) -> None:
        self.store = store
        self.brands = {brand.key: brand for brand in brands}
        self.events = events

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(key.encode(), PLAYERS_API_KEY.encode()):
            raise ApiError(401, "UNAUTHENTICATED", "X-API-Key is missing or not valid")

    def _brand(self, request: Request) -> str:
        self._authenticate(request)
        brand = request.headers.get("x-brand-key", "")
        if not brand:
            raise ApiError(400, "BRAND_REQUIRED", "X-Brand-Key header is required")
        if brand not in self.brands:
            raise ApiError(400, "BRAND_NOT_ALLOWED", f"this API key may not name brand {brand!r}")
        return brand

    async def list_brands(self, request: Request) -> JSONResponse:
        self._authenticate(request)
        brands = [{"key": b.key, "name": b.name} for b in self.brands.values()]
        return JSONResponse({"brands": brands})

    async def get_stats(self, request: Request) -> JSONResponse:
        brand = self._brand(request)
        return JSONResponse({"player": self.store.get(brand, request.path_params["player_id"])})

    async def batch_get(self, request: Request) -> JSONResponse:
        brand = self._brand(request)
        ask = _parse(BatchGetRequest, await request.body())
        if len(ask.player_ids) > MAX_BATCH_IDS:
            raise ApiError(400, "TOO_MANY_IDS", f"at most {MAX_BATCH_IDS} player_ids a request")
        players, not_found = self.store.batch_get(brand, ask.player_ids)
        return JSONResponse({"players": players, "not_found": not_found})

    async def list_players(self, request: Request) -> JSONResponse:
        brand = self._brand(request)
        since = _int_param(request, "updated_since", 0, 0, None)
        limit = _int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        cursor = request.query_params.get("cursor")
        after = decode_cursor(brand, cursor) if cursor is not None else None
        players, last = self.store.page(brand, since, after, limit)
        next_cursor = encode_cursor(brand, last) if last is not None else None
        return JSONResponse({"players": players, "next_cursor": next_cursor})

    async def award_points(self, request: Request) -> JSONResponse:
        brand = self._brand(request)
        ask = _parse(AwardPointsRequest, await request.body())
        award = Award(request.path_params["player_id"], ask.delta, ask.reason, ask.idempotency_key)
        player, changes = self.store.award(brand, award)
        self.events.changed(player, changes)
        return JSONResponse({"player": player})

    async def back_office_change(self, request: Request) -> JSONResponse:
        ask = _parse(BackOfficeChange, await request.body())
        if ask.brand not in self.brands:
            raise ApiError(400, "BRAND_NOT_ALLOWED", f"there is no brand {ask.brand!r}")
        values = ask.changes.model_dump(exclude_none=True)
        changes = self.store.change(ask.brand, ask.player_id, values)
        player = self.store.get(ask.brand, ask.player_id)
        self.events.changed(player, changes)
        return JSONResponse({"player": player, "changed": sorted(changes)})


def _as_api_error(exc: Exception) -> ApiError:
    match exc:
        case ApiError():
            return exc
        case PlayerNotFound():
            return ApiError(404, "PLAYER_NOT_FOUND", f"no player {exc} in this brand")
        case IdempotencyConflict():
            message = f"idempotency key {exc} was used for a different request"
            return ApiError(409, "IDEMPOTENCY_KEY_REUSED", message)
        case InsufficientPoints():
            message = "the award would take the points balance below zero"
            return ApiError(422, "INSUFFICIENT_POINTS", message)
        case HTTPException():
            return ApiError(exc.status_code, code_for(exc.status_code), exc.detail)
    return ApiError(500, "INTERNAL", "internal error")


async def _error_response(request: Request, exc: Exception) -> JSONResponse:
    error = _as_api_error(exc)
    headers = exc.headers if isinstance(exc, HTTPException) else None
    return JSONResponse(error_body(error.code, error.message), error.status, headers=headers)


def create_app(world: World) -> SimulatorControl:
    """The player-stats simulator for ``world``, wrapped in its control plane."""
    store = PlayerStatsStore(world)
    webhooks = WebhookSender(SCHEME)
    api = PlayerStatsApi(store, world.brands, PlayerEvents(webhooks))
    routes: list[BaseRoute] = [
        Route("/v1/brands", api.list_brands, methods=["GET"]),
        Route("/v1/players", api.list_players, methods=["GET"]),
        Route("/v1/players/stats:batchGet", api.batch_get, methods=["POST"]),
        Route("/v1/players/{player_id}/stats", api.get_stats, methods=["GET"]),
        Route("/v1/players/{player_id}/points", api.award_points, methods=["POST"]),
    ]
    handled: list[Any] = [
        ApiError,
        PlayerNotFound,
        IdempotencyConflict,
        InsufficientPoints,
        HTTPException,
        Exception,
    ]
    control = Route("/__change", api.back_office_change, methods=["POST"])
    app = Starlette(
        routes=[*routes, control],
        exception_handlers=dict.fromkeys(handled, _error_response),
    )
    return SimulatorControl(
        app,
        routes,
        PlayerStatsDialect(),
        NOMINAL,
        seed=world.seed,
        reseed=store.reseed,
        webhooks=webhooks,
    )
