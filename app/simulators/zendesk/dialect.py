"""How Zendesk Support words errors and reports its rate budget.

Errors are ``{"error": "RecordNotFound", "description": "Not found"}``; a ``422`` adds
``details`` (``{"field": [{"description": "Field: why", "error": "InvalidValue"}]}``). Every
answer carries ``X-Rate-Limit`` and ``X-Rate-Limit-Remaining``, and the ticketing endpoints
(all of ours) add ``ratelimit-limit``, ``ratelimit-remaining`` and ``ratelimit-reset``. Over the
account limit Zendesk answers ``429`` with ``Retry-After`` (whole seconds) and the bare sentence
below as its ``text/plain`` body.
"""

from __future__ import annotations

import math
from typing import Any

from app.simulators.control import Budget, Refusal

#: The body Zendesk sends over its account-wide limit: a bare sentence, which the shared
#: middleware sends as ``text/plain; charset=utf-8`` because it is a ``str``.
RATE_LIMITED_BODY = "Number of allowed API requests per minute exceeded"

#: ``error`` names for statuses that nothing more specific explains (faults, routing).
STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad request"),
    401: ("Couldn't authenticate you", ""),
    403: ("Forbidden", "You do not have access to this page"),
    404: ("InvalidEndpoint", "Not found"),
    405: ("InvalidEndpoint", "Method not allowed"),
    409: ("UpdateConflict", "Conflict"),
    422: ("RecordInvalid", "Record validation errors"),
    500: ("InternalError", "Something went wrong"),
    502: ("BadGateway", "Bad gateway"),
    503: ("ServiceUnavailable", "The service is temporarily unavailable"),
    504: ("GatewayTimeout", "The request timed out"),
}


def error_body(error: str, description: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "description": description}
    if details is not None:
        body["details"] = details
    return body


def status_body(status: int) -> dict[str, Any]:
    error, description = STATUS_ERRORS.get(
        status, ("InternalError", "Something went wrong") if status >= 500 else ("BadRequest", "")
    )
    if status == 401:
        return {"error": error}
    return error_body(error, description)


def _whole_seconds(seconds: float) -> int:
    # Round up: a client that waits the advertised time must find the window open.
    return max(math.ceil(seconds), 0)


class ZendeskDialect:
    """The :class:`~app.simulators.control.Dialect` of Zendesk Support."""

    def rate_headers(self, budget: Budget) -> list[tuple[str, str]]:
        limit, remaining = str(budget.limit), str(budget.remaining)
        return [
            ("X-Rate-Limit", limit),
            ("X-Rate-Limit-Remaining", remaining),
            ("ratelimit-limit", limit),
            ("ratelimit-remaining", remaining),
            ("ratelimit-reset", str(_whole_seconds(budget.reset_seconds))),
        ]

    def throttled(self, budget: Budget, retry_after: float) -> Refusal:
        wait = max(_whole_seconds(retry_after), 1)
        return 429, RATE_LIMITED_BODY, [*self.rate_headers(budget), ("Retry-After", str(wait))]

    def fault(self, status: int) -> Any:
        return status_body(status)
