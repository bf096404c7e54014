"""Player-stats records → PlayerStats fields (money in minor units, two time formats)."""

from __future__ import annotations

from app.mapping import converters as c
from app.mapping.fieldmap import FieldMap, wire

PLAYER_MAP = FieldMap(
    {
        "brand": wire("brand", convert=c.text),
        "email": wire("email", convert=c.email),
        "country": wire("country", convert=c.text),
        "currency": wire("currency", convert=c.text),
        "registered_at": wire("registered_at", convert=c.epoch_ms),
        "last_login_at": wire("last_login", "tz", convert=c.local_datetime),
        "updated_at": wire("updated_at", convert=c.epoch_ms),
        "level": wire("level.id", convert=c.integer),
        "level_name": wire("level.name", convert=c.text),
        "points_balance": wire("points_balance", convert=c.integer),
        "points_ever": wire("points_ever", convert=c.integer),
        "deposit_count": wire("deposits.count", convert=c.integer),
        "deposits_total": wire("deposits.total_minor", "currency", convert=c.money),
        "withdrawals_total": wire("withdrawals.total_minor", "currency", convert=c.money),
        "bets_total": wire("bets_total_minor", "currency", convert=c.money),
        "wins_total": wire("wins_total_minor", "currency", convert=c.money),
        "bonus_total": wire("bonus_total_minor", "currency", convert=c.money),
        "missions_completed": wire("missions_completed", convert=c.integer),
        "tournaments_played": wire("tournaments_played", convert=c.integer),
        "churn_risk": wire("churn_score", convert=c.number),
        "predicted_ltv": wire("predicted_ltv_minor", "currency", convert=c.money),
    }
)
