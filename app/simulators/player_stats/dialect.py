"""How the player-stats back office words errors and reports its rate budget.

Every error is ``{"error": {"code": "UPPER_SNAKE", "message": "…"}}``; every answer carries
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (whole seconds), and a
``429`` adds ``Retry-After`` (whole seconds).
"""

from __future__ import annotations

import math
from typing import Any

from app.simulators.control import Budget, Refusal

#: The code a status gets when nothing more specific applies (injected faults, routing errors).
STATUS_CODES: dict[int, str] = {
    400: "INVALID_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "UNPROCESSABLE",
    429: "RATE_LIMITED",
    500: "INTERNAL",
    502: "SERVICE_UNAVAILABLE",
    503: "SERVICE_UNAVAILABLE",
    504: "SERVICE_UNAVAILABLE",
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def code_for(status: int) -> str:
    return STATUS_CODES.get(status, "INTERNAL" if status >= 500 else "INVALID_REQUEST")


def _whole_seconds(seconds: float) -> int:
    # Round up: a client that waits the advertised time must find the window open.
    return max(math.ceil(seconds), 0)


class PlayerStatsDialect:
    """The :class:`~app.simulators.control.Dialect` of the player-stats back office."""

    def rate_headers(self, budget: Budget) -> list[tuple[str, str]]:
        return [
            ("RateLimit-Limit", str(budget.limit)),
            ("RateLimit-Remaining", str(budget.remaining)),
            ("RateLimit-Reset", str(_whole_seconds(budget.reset_seconds))),
        ]

    def throttled(self, budget: Budget, retry_after: float) -> Refusal:
        wait = max(_whole_seconds(retry_after), 1)
        body = error_body("RATE_LIMITED", f"rate limit of {budget.limit} requests exceeded")
        return 429, body, [*self.rate_headers(budget), ("Retry-After", str(wait))]

    def fault(self, status: int) -> Any:
        return error_body(code_for(status), f"the service failed to answer ({status})")
