"""Retries for idempotent calls: exponential backoff with full jitter, within the deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    base: float = 0.05
    cap: float = 1.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (full jitter: uniform in
        [0, min(cap, base * 2**(attempt-1))])."""
        return rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


#: Answers worth another try of an idempotent call: the CRM was unwell or busy, not "no".
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
