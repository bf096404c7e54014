"""How HubSpot words errors and reports its rate budget.

Every error is ``{"status": "error", "message", "correlationId", "category", ...}``; a batch
answer's per-item errors follow the ``StandardError`` schema (with ``context``, ``errors`` and
``links`` always present). A 429 adds ``errorType: RATE_LIMIT`` and the ``policyName`` of the
window that ran out. Every answer carries the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from app.simulators.control import Budget, RateLimit, Refusal
from app.simulators.hubspot.store import PropertyProblem

#: A private app on a Professional account: 190 requests per 10 seconds, 650,000 a day.
NOMINAL = RateLimit(requests=190, per_seconds=10)
DAILY_LIMIT = 650_000

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_FAULT_CATEGORY = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    """HubSpot's error object (the ``Error`` schema of its OpenAPI files)."""
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def batch_error(category: str, message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    """One entry of a 207 answer's ``errors`` (the ``StandardError`` schema)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def invalid_properties_body(problems: Sequence[PropertyProblem]) -> dict[str, Any]:
    """A 400 for property values HubSpot refuses, in its "Property values were not valid" form."""
    legacy = [
        {
            "isValid": False,
            "message": p.message,
            "error": p.code,
            "name": p.name,
            "localizedErrorMessage": p.message,
        }
        for p in problems
    ]
    return error_body(
        "VALIDATION_ERROR",
        f"Property values were not valid: {json.dumps(legacy, separators=(',', ':'))}",
        errors=[
            {"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}}
            for p in problems
        ],
    )


def _policy(window_seconds: float) -> str:
    if window_seconds <= 1:
        return "SECONDLY"
    if window_seconds >= 86_400:
        return "DAILY"
    return "TEN_SECONDLY_ROLLING"


class HubSpotDialect:
    """Rate-limit headers and refusal bodies as api.hubapi.com sends them."""

    def __init__(self, daily_limit: int = DAILY_LIMIT) -> None:
        self.daily_limit = daily_limit
        self.daily_used = 0

    def _headers(self, budget: Budget) -> list[tuple[str, str]]:
        return [
            ("X-HubSpot-RateLimit-Max", str(budget.limit)),
            ("X-HubSpot-RateLimit-Remaining", str(budget.remaining)),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(int(budget.window_seconds * 1000))),
            ("X-HubSpot-RateLimit-Daily", str(self.daily_limit)),
            (
                "X-HubSpot-RateLimit-Daily-Remaining",
                str(max(self.daily_limit - self.daily_used, 0)),
            ),
        ]

    def rate_headers(self, budget: Budget) -> list[tuple[str, str]]:
        # Called once for every answer the window let through: that is a call of the day.
        self.daily_used += 1
        return self._headers(budget)

    def throttled(self, budget: Budget, retry_after: float) -> Refusal:
        policy = _policy(budget.window_seconds)
        body = {
            "status": "error",
            "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            # Not in the live 429 body; kept so it also reads as the spec's ``Error`` object.
            "category": "RATE_LIMITS",
        }
        return 429, body, self._headers(budget)

    def fault(self, status: int) -> Any:
        category = _FAULT_CATEGORY.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
        message = (
            "An internal error occurred. Please try again later."
            if status >= 500
            else "There was a problem with the request."
        )
        return error_body(category, message)
