"""How Dataverse words refusals: ``{"error": {"code": "0x…", "message": "…"}}``, 429 with
``Retry-After``, and the ``x-ms-ratelimit-*`` (and ``OData-Version``) headers on every answer."""

from __future__ import annotations

import math
from typing import Any

from app.simulators.control import Budget, RateLimit, Refusal

#: Dataverse's per-user service protection limit on the number of requests.
NOMINAL = RateLimit(requests=6000, per_seconds=300)
#: The combined execution time a user may spend in the same window (milliseconds).
EXECUTION_TIME_MS = 1_200_000

THROTTLED_CODE = "0x80072322"
UNEXPECTED_CODE = "0x80040216"
_FAULTS = {
    500: "An unexpected error occurred.",
    502: "Bad Gateway",
    503: "The service is temporarily unavailable. Please try again later.",
    504: "The request timed out.",
}


def error_body(code: str, message: str) -> dict[str, Any]:
    """The Web API's error body."""
    return {"error": {"code": code, "message": message}}


class ApiError(Exception):
    """A refusal in the Web API's words; handlers raise it and the app renders it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


def bad_request(message: str) -> ApiError:
    """What the OData layer answers for a query it cannot read (its code is ``0x0``)."""
    return ApiError(400, "0x0", message)


def no_property(name: str, type_name: str) -> ApiError:
    return bad_request(f"Could not find a property named '{name}' on type '{type_name}'.")


def _seconds(value: float) -> int:
    return max(math.ceil(value), 1)


class DynamicsDialect:
    """The :class:`~app.simulators.control.Dialect` of the Dataverse Web API."""

    def rate_headers(self, budget: Budget) -> list[tuple[str, str]]:
        # OData-Version rides along: every Web API answer, refusals included, carries it.
        return [
            ("OData-Version", "4.0"),
            ("x-ms-ratelimit-burst-remaining-xrm-requests", str(budget.remaining)),
            ("x-ms-ratelimit-time-remaining-xrm-requests", f"{EXECUTION_TIME_MS:,}.00"),
        ]

    def throttled(self, budget: Budget, retry_after: float) -> Refusal:
        window = f"{budget.window_seconds:g}"
        message = (
            f"Number of requests exceeded the limit of {budget.limit} over time window of "
            f"{window} seconds."
        )
        headers = [*self.rate_headers(budget), ("Retry-After", str(_seconds(retry_after)))]
        return 429, error_body(THROTTLED_CODE, message), headers

    def fault(self, status: int) -> Any:
        message = _FAULTS.get(status, "An unexpected error occurred.")
        return error_body(UNEXPECTED_CODE, message)
