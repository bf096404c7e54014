"""A circuit breaker per source: closed, open (failing fast), half-open (one probe at a time).

It opens when, within the last ``window`` seconds, at least ``min_calls`` calls were made and
the share that failed reached ``failure_rate``, or, if ``consecutive`` is set, when that many
calls in a row failed (the rate of a busy window can take seconds to turn). After
``open_for`` seconds one probe call is let through: success closes the breaker, failure opens
it again. Failures are what says the CRM is unwell (no answer, a timeout, a 5xx); a 4xx or a
429 is an answer, not a failure. A probe whose caller was cancelled says nothing: ``abandon``
lets the next call probe, and a probe that has not reported after ``open_for`` seconds no
longer holds the turn.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_rate: float = 0.5,
        min_calls: int = 10,
        window: float = 30.0,
        open_for: float = 15.0,
        consecutive: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_rate = failure_rate
        self.min_calls = min_calls
        self.window = window
        self.open_for = open_for
        self.consecutive = consecutive
        self.clock = clock
        self._calls: deque[tuple[float, bool]] = deque()
        self._failed = 0  # how many of ``_calls`` failed: kept, not counted per call
        self._streak = 0  # failures since the last success
        self._state: State = "closed"
        self._opened_at = 0.0
        self._probing = False
        self._probe_at = 0.0
        self.opened = 0  # how many times it opened

    @property
    def state(self) -> State:
        if self._state == "open" and self.clock() - self._opened_at >= self.open_for:
            return "half_open"
        return self._state

    def retry_after(self) -> float:
        """Seconds until the breaker will let a probe through (0 when it lets calls through)."""
        if self._state != "open":
            return 0.0
        return max(self._opened_at + self.open_for - self.clock(), 0.0)

    def allow(self) -> bool:
        """Whether a call may go now; in half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        now = self.clock()
        if self._probing and now - self._probe_at < self.open_for:
            return False
        self._state = "half_open"
        self._probing = True
        self._probe_at = now
        return True

    @contextlib.contextmanager
    def attempt(self, failures: tuple[type[BaseException], ...]) -> Iterator[None]:
        """Around one call: ending in one of ``failures`` records a failure, ending in
        anything else (a cancel) abandons it, returning records a success."""
        try:
            yield
        except failures:
            self.record(False)
            raise
        except BaseException:
            self.abandon()
            raise
        self.record(True)

    def abandon(self) -> None:
        """The probe's caller gave up before an answer (it was cancelled): the next call
        probes instead. Outside a probe, nothing."""
        if self._state == "half_open":
            self._probing = False

    def record(self, ok: bool) -> None:
        now = self.clock()
        if self._state == "half_open":
            self._probing = False
            if ok:
                self._state = "closed"
                self._forget()
            else:
                self._open(now)
            return
        calls = self._calls
        calls.append((now, ok))
        self._failed += not ok
        self._streak = 0 if ok else self._streak + 1
        while now - calls[0][0] > self.window:
            self._failed -= not calls.popleft()[1]
        if self._state == "closed" and (
            (len(calls) >= self.min_calls and self._failed / len(calls) >= self.failure_rate)
            or (self.consecutive is not None and self._streak >= self.consecutive)
        ):
            self._open(now)

    def _open(self, now: float) -> None:
        self._state = "open"
        self._opened_at = now
        self._forget()
        self.opened += 1

    def _forget(self) -> None:
        self._calls.clear()
        self._failed = 0
        self._streak = 0


def for_redis() -> CircuitBreaker:
    """For calls to Redis on a request's path: once 4 calls within 10 s have failed at 50 % or
    more, or 4 in a row have (a busy instance's good calls would otherwise keep it closed for
    seconds), they are not made (each would wait out ``redis_timeout``), and one probe every
    3 s looks for Redis again."""
    return CircuitBreaker(min_calls=4, failure_rate=0.5, window=10, open_for=3, consecutive=4)
