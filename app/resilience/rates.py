"""How a CRM reports its rate window, read by each vendor's own :class:`RateDialect`.

:class:`~app.resilience.budget.SourceBudget` paces one source from what its answers say; what
they say is read by the dialect of the source's kind (``app/connectors/<vendor>/ratelimit.py``):
the limit and remaining requests of the current window, when it resets if the CRM says, and
whether an answer is the CRM refusing a request for want of budget. A vendor that documents
a default limit names it (``default_limit``): the budget starts from it until the headers say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateReport:
    """``remaining`` of ``limit`` requests, from one answer's headers."""

    limit: float
    remaining: float
    #: Seconds until the window resets, when the CRM says.
    reset_in: float | None = None
    #: The window's length, when the CRM says (otherwise the dialect's ``window``).
    window: float | None = None


@dataclass(frozen=True, slots=True)
class WindowLimit:
    """``limit`` requests every ``window`` seconds."""

    limit: float
    window: float


class RateDialect(Protocol):
    """One CRM's rate-limit headers and refusals."""

    #: The window assumed where the headers do not state one (seconds).
    window: float
    #: A rolling window: calls free as old ones age out, never all at once (Salesforce's
    #: daily allowance). The budget then probes while it is nearly spent, and pauses for
    #: doubling spells once it is spent, instead of waiting for a reset.
    rolling: bool
    #: The vendor's documented limit for the lowest tier it applies to, where it documents
    #: one: the budget's estimate until an answer's headers state the real one.
    default_limit: WindowLimit | None

    def report(self, headers: Mapping[str, str]) -> RateReport | None:
        """What lower-cased ``headers`` say, or None when they say nothing usable."""
        ...

    def refused(self, status: int, body: bytes | None) -> bool:
        """Whether this answer refuses the request for want of budget."""
        ...


def number(raw: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def report(
    limit: float | None,
    remaining: float | None,
    reset_in: float | None = None,
    window: float | None = None,
) -> RateReport | None:
    """A report when the limit and remaining were both read and are consistent."""
    if limit is None or remaining is None or limit <= 0 or remaining > limit:
        return None
    return RateReport(limit, remaining, reset_in, window)
