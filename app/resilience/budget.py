"""Per-source upstream rate budgets: pace requests so that no CRM account is throttled by us.

A :class:`SourceBudget` stands in front of one source's HTTP calls. ``acquire(deadline)``
waits until a request may be sent, or raises :class:`UpstreamRateLimited` (with
``retry_after``, the seconds until it could be sent) when that moment is after the deadline;
it never sleeps past the deadline. ``observe(status, headers, body)`` reads every answer.
Three things hold a request back, checked in this order:

1. **A pause.** A refusal (``429`` from any CRM, or Salesforce's ``403`` whose error array
   carries ``REQUEST_LIMIT_EXCEEDED``) or an answer reporting 0 requests remaining pauses the
   source: every ``acquire`` waits until the pause ends. A refusal's ``Retry-After`` (seconds;
   an HTTP date is ignored) sets its length; without one, the window's reset (below) does.
   Pauses only ever lengthen, and are capped at a day. **A pause is per instance**: an
   instance pauses on the answers it receives itself.
2. **Headroom pacing.** When ``remaining < headroom * limit`` (``headroom`` 0.1: the last 10 %),
   the remaining requests are spread over the time left in the CRM's window: one request
   every ``seconds left / remaining`` (each ``acquire`` reserves the next slot, so concurrent
   callers are spaced too), until the window resets or an answer shows more headroom. This is
   per instance, from the headers each instance sees.
3. **The configured pace**, the ``limiter``: the same GCRA as the per-caller limits
   (:mod:`app.auth.ratelimit`), one request a unit, under the key ``source``. With a
   :class:`~app.auth.ratelimit.RedisRateLimiter` every instance draws on one shared budget, so
   N instances together keep the configured pace exactly. If the limiter raises
   :class:`~app.auth.ratelimit.RateLimiterUnavailable` (Redis down), requests are paced by
   the pause and the headers alone; that is logged once per outage (and its end once).

What is read from each CRM is its kind's :class:`~app.resilience.rates.RateDialect`
(``app/connectors/<vendor>/ratelimit.py``): the limit and remaining requests of the window,
its reset when the CRM says it, and which answers are refusals. A CRM that does not say when
its window resets has the reset estimated as ``window`` after the first answer of the current
window (one arriving when the previous estimate has passed, or reporting more remaining than
the answer before): never earlier than the real reset; a ``429`` without ``Retry-After``
pauses until that estimate. A **rolling** allowance (Salesforce's daily API calls) never
resets at once: calls free as old ones age out. Headroom pacing then spreads the remaining
calls over a whole window, but sends at least one call a ``probe`` (60 s, or the window if
shorter) so that freed calls are noticed; a spent allowance pauses for ``probe``, doubling
with each spent answer after a pause (up to the window), back to ``probe`` once an answer
shows calls left.

**Without a configured pace** (no ``limiter``), the budget also counts what it lets go:

4. **A cold gate.** Until one answer with readable rate headers has been seen, at most
   ``cold_concurrency`` (2) requests are in flight; the others wait (as every wait, no later
   than their deadline). An answer without readable headers opens the gate too: a CRM that
   does not report its budget has nothing to teach, and is not held back.
5. **A starting estimate beside the gate**, where one is known: the limit last learned
   from this source's headers (kept in Redis by ``store``, a
   :class:`~app.resilience.learned.LearnedLimits`, so a restarted or new instance starts
   from it), else the vendor's documented ``default_limit``. The estimate's window starts at
   the first request; each request spends one, and headroom pacing (2.) spreads its last
   tenth over the rest of the window, until an answer's headers state the real budget. The
   gate stays until then: an account often has more than the estimate, and requests already
   given slots by it would keep them; a window counted from the estimate is counted afresh
   from the first headers.
6. **Requests in flight count.** After each answer, the requests left in a window that resets
   (not a rolling one) are what it reported less the requests still in flight, and each
   request spends one more. When none are left, requests wait for the window's end and then
   compete again: the next window's count is its limit less the requests still in flight
   then (one let go early may reach the CRM late, behind the source's concurrency cap, in
   its next window), so no slot in a later window is promised in advance. While requests
   wait so, answers do not recount the window (they are of the window they wait out, often
   overtaken answers reporting more left than it has). A request whose answer never
   reaches the budget (a timeout, a dropped connection) stops counting when its task sends
   again or ends, or at its deadline (:mod:`app.resilience.inflight`).

**A route's own pace.** A CRM may limit one route apart from the account (HubSpot's search:
4 a second per token; Zendesk's export: 100 a minute per account). ``routes`` maps such a
route (``"POST /path"``, as ``acquire`` and ``observe`` are told it) to its
:class:`RoutePace`: a GCRA limiter of its own, kept under ``source route``. A request to that
route waits for it first, before 1. to 6.; other routes never wait for it. A refusal of such a
route that does not show the account's window spent (no rate headers, or requests remaining)
is the route's own limit (spent by another app of the account, say): it **pauses that route
alone**, for its ``Retry-After`` or else the route's window, and the rest of the source goes on.

``cold_start=False`` turns 4. to 6. off (the budget as it was before them: the pause and
headroom pacing alone), only to measure what they are worth (``tests/benchmarks/burst.py``).

``window`` (keyword) replaces the dialect's assumed window where the headers do not state
one; e.g. ``window=10`` for a Salesforce simulator limited per 10 s.

A header that is missing, not a finite non-negative number, or inconsistent (a limit of 0,
more remaining than the limit) is ignored; ``observe`` never raises. ``state()`` shows the
CRM's last reported limit and remaining and the end of a pause. Times are ``clock()`` values
(monotonic seconds); ``clock`` and ``sleep`` are injectable for tests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from app.auth.ratelimit import RateLimiter, RateLimiterUnavailable
from app.connectors.errors import UpstreamRateLimited
from app.resilience.inflight import InFlight, owner
from app.resilience.learned import LearnedLimits
from app.resilience.outage import Outage
from app.resilience.rates import RateDialect, WindowLimit, number

log = logging.getLogger(__name__)

#: The longest pause any answer can impose; a longer ``Retry-After`` is read as this.
MAX_PAUSE = 86_400.0
#: A rolling allowance: the first pause once it is spent, and the longest gap between calls
#: while it is nearly spent (its window frees calls that only a call can reveal).
PROBE = 60.0
#: The shortest wait when the limiter refuses without saying for how long.
_MIN_WAIT = 0.001
#: How often a request held by the cold gate looks again whether it may go (seconds).
COLD_POLL = 0.01


@dataclass(frozen=True, slots=True)
class BudgetState:
    """The budget as the ``sources`` query shows it: the CRM's last reported limit and
    remaining requests (None before an answer reported them), the end of a pause (a
    ``clock()`` value; None when not paused), and of each route's own pause."""

    limit: float | None
    remaining: float | None
    paused_until: float | None
    source: str
    routes_paused_until: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutePace:
    """The pace of a route the CRM limits apart from the account."""

    limiter: RateLimiter
    #: Its limit's window (seconds): how long a refusal without ``Retry-After`` holds it.
    window: float


@dataclass(frozen=True, slots=True)
class _Reading:
    """What one answer says: ``remaining`` of ``limit`` requests until ``reset_at``."""

    limit: float
    remaining: float
    reset_at: float
    #: The window's length (stated, or assumed).
    window: float


class SourceBudget:
    """The rate budget of one source (see the module docstring for what it does)."""

    def __init__(
        self,
        source: str,
        rates: RateDialect,
        limiter: RateLimiter | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        headroom: float = 0.1,
        window: float | None = None,
        cold_concurrency: int = 2,
        store: LearnedLimits | None = None,
        cold_start: bool = True,
        routes: Mapping[str, RoutePace] | None = None,
    ) -> None:
        if not 0 <= headroom < 1:
            raise ValueError("headroom must be at least 0 and below 1")
        if window is not None and not window > 0:
            raise ValueError("window must be positive")
        if cold_concurrency < 1:
            raise ValueError("cold_concurrency must be at least 1")
        self.source = source
        self.rates = rates
        #: The key this source's configured pace is kept under in ``limiter``.
        self.key = source
        self._limiter = limiter
        #: The paces of single routes the CRM limits apart (each kept under ``source route``).
        self._routes = dict(routes or {})
        #: When each route paused by a refusal of its own may go again (``clock()`` values).
        self._route_paused: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep
        self._headroom = headroom
        self._window = window if window is not None else rates.window
        self._probe = min(PROBE, self._window)
        self._spent_pause = self._probe
        self._paused_until = -math.inf
        self._spacing: float | None = None
        self._spacing_until = -math.inf
        self._last_slot: float | None = None
        # Estimated window of a CRM that does not say when it resets: (end, last remaining).
        self._estimate: tuple[float, float] | None = None
        self._limit: float | None = None
        self._remaining: float | None = None
        self._limiter_outage = Outage(
            f"rate budget of source {source}",
            log,
            level=logging.WARNING,
            consequence="pacing by the CRM's headers alone",
            units=("request", "requests"),
        )
        # Counting (without a configured pace): the cold gate, the requests in flight and
        # those left in the current window (None: not counted).
        self._counting = limiter is None and cold_start
        self._cold = self._counting
        self._cold_concurrency = cold_concurrency
        self._seen = False
        self._inflight = InFlight()
        self._left: float | None = None
        self._left_until = -math.inf
        self._queued = 0  # requests waiting for the counted window's end
        self._left_limit = 0.0
        self._left_window = self._window
        self._store = store
        self._starting: asyncio.Task[None] | None = None
        self._started = False
        self._saved: WindowLimit | None = None
        self._saving: set[asyncio.Task[None]] = set()

    # -- waiting --------------------------------------------------------------------------------

    async def acquire(self, deadline: float | None, route: str | None = None) -> None:
        """Wait until a request (to ``route``) may be sent; raise :class:`UpstreamRateLimited`
        if that is after ``deadline`` (a ``clock()`` value; None waits as long as it takes).
        A route with a pace of its own waits for it first."""
        pace = self._routes.get(route) if route is not None else None
        if route is not None and pace is not None:
            now = self._clock()
            paused = self._route_paused.get(route, -math.inf)
            if now < paused:
                await self._wait(now, paused, deadline, f"{route} paused by the CRM's limit")
        while pace is not None:
            wait = await self._ask_limiter(pace.limiter, f"{self.source} {route}")
            if wait is None:
                break
            now = self._clock()
            await self._wait(now, now + wait, deadline, f"the pace of {route}")
        if self._counting and not self._started:
            await self._start()
        slotted = paced = False
        woke = -math.inf  # the end of a window waited for: it has ended, whatever the clock
        while True:
            now = max(self._clock(), woke)
            if now < self._paused_until:
                await self._wait(now, self._paused_until, deadline, "paused by the CRM's limit")
                continue
            if not slotted and self._cold_hold(now):
                until = now + COLD_POLL
                await self._wait(now, until, deadline, "waiting for the CRM's first rate headers")
                continue
            if not slotted and self._counting and self._spent(now):
                woke = await self._next_window(now, deadline)
                continue
            if not slotted:
                slot = self._slot(now)
                if slot > now:
                    self._check(now, slot, deadline, "pacing the CRM's remaining budget")
                self._last_slot = slot
                if self._counting:
                    self._take(now, deadline)
                slotted = True
                if slot > now:
                    await self._sleep(slot - now)
                continue
            if not paced:
                wait = await self._ask_limiter(self._limiter, self.key)
                if wait is not None:
                    now = self._clock()
                    await self._wait(now, now + wait, deadline, "the configured request pace")
                    continue
                paced = True
                continue  # the limiter was awaited: look at the pause once more
            return

    # -- counting (without a configured pace) ------------------------------------------------

    async def _start(self) -> None:
        """Before the first request: start from a learned or documented limit, if known."""
        if self._store is not None:
            if self._starting is None:
                self._starting = asyncio.ensure_future(self._load(self._store))
            await asyncio.shield(self._starting)
        else:
            self._begin(None)

    async def _load(self, store: LearnedLimits) -> None:
        self._begin(await store.load(self.source))

    def _begin(self, learned: WindowLimit | None) -> None:
        if self._started:
            return
        self._started = True
        start = learned if learned is not None else self.rates.default_limit
        if start is None or self._seen:
            return
        # The gate stays: a few requests until the first headers say what this account really
        # has (more, often: requests paced to the estimate would keep their slots).
        self._left_limit, self._left_window = start.limit, start.window
        self._left = None  # the estimate's window starts with the first request

    def _cold_hold(self, now: float) -> bool:
        """Whether the cold gate holds a request: as many as it lets go are in flight."""
        return self._cold and self._inflight.count(now) >= self._cold_concurrency

    def _spent(self, now: float) -> bool:
        """Whether no request is left in the counted window (a new window starts when the last
        has ended)."""
        if self._left_limit <= 0:
            return False
        if self._left is None or now >= self._left_until:
            self._left = self._left_limit - self._inflight.count(now)
            self._left_until = now + self._left_window
        return self._left <= 0

    async def _next_window(self, now: float, deadline: float | None) -> float:
        """Wait for the counted window's end, then compete again for the next: no slot in it is
        promised, as requests let go before it and still in flight then count against it (one
        let go early may reach the CRM late, in its next window). Those already waiting take
        the next window first: a request that would find it full too looks at the one after
        for its deadline."""
        ahead = self._queued // max(int(self._left_limit), 1)
        opens = self._left_until + ahead * self._left_window
        self._check(now, opens, deadline, "the CRM's window is spent (requests in flight)")
        self._queued += 1
        try:
            await self._sleep(opens - now)
        finally:
            self._queued -= 1
        return opens

    def _take(self, now: float, deadline: float | None) -> None:
        """Count one request let go."""
        if self._left is not None:
            self._left -= 1
            if not self._seen and self._left < self._headroom * self._left_limit:
                # The starting estimate is paced as the headers would be.
                reading = _Reading(
                    self._left_limit, max(self._left, 0.0), self._left_until, self._left_window
                )
                self._pace(now, reading)
        self._inflight.add(owner(), now, deadline)

    def _count(self, now: float, reading: _Reading, before: float | None) -> None:
        """Requests left in the window after an answer's reading, less those in flight."""
        if self.rates.rolling:  # calls free as old ones age out: nothing resets to count on
            self._left_limit = 0.0
            self._left = None
            return
        if self._queued:
            # Requests wait for this window's end, to be counted afresh then: an answer now is
            # most likely of this window, overtaken by the later answers that spent it.
            return
        inflight = self._inflight.count(now)
        left = reading.remaining - inflight
        # An answer overtaken by later ones reports a few more left than they did (no more
        # than were in flight); more than that is new headroom.
        same = (
            self._left is not None
            and reading.limit == self._left_limit  # else counted from an estimate: recount
            and now < self._left_until
            and reading.reset_at - self._left_until <= min(1.0, reading.window / 2)
            and (before is None or reading.remaining <= before + inflight + 1)
        )
        self._left_limit, self._left_window = reading.limit, reading.window
        if same and self._left is not None:
            # An answer overtaken by later ones reports too many left: keep the lower count.
            self._left = min(self._left, left)
            return
        self._left = left
        self._left_until = reading.reset_at

    def _learn(self, reading: _Reading) -> None:
        """Keep a newly read limit in the store, for the next instance to start from."""
        learned = WindowLimit(reading.limit, reading.window)
        if self._store is None or learned == self._saved:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._saved = learned
        task = loop.create_task(self._store.save(self.source, learned))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def flush(self) -> None:
        """Wait for the learned limits being written to the store (tests, shutdown)."""
        if self._saving:
            await asyncio.gather(*self._saving)

    # -- headroom pacing ------------------------------------------------------------------------

    def _slot(self, now: float) -> float:
        """When the next request may go under headroom pacing (``now`` when not pacing)."""
        if self._spacing is None or self._last_slot is None:
            return now
        return max(now, min(self._last_slot + self._spacing, self._spacing_until))

    async def _ask_limiter(self, limiter: RateLimiter | None, key: str) -> float | None:
        """Seconds to wait for a configured pace, or None when the request may go."""
        if limiter is None:
            return None
        try:
            decision = await limiter.acquire(key, 1)
        except RateLimiterUnavailable as exc:
            self._limiter_outage.failed(exc, 0.0, expected=True)
            return None
        self._limiter_outage.worked()
        if decision.allowed:
            return None
        return max(decision.retry_after, _MIN_WAIT)

    def _check(self, now: float, until: float, deadline: float | None, why: str) -> None:
        if deadline is not None and until > deadline:
            raise UpstreamRateLimited(
                self.source,
                f"no rate budget before the deadline ({why})",
                retry_after=until - now,
            )

    async def _wait(self, now: float, until: float, deadline: float | None, why: str) -> None:
        self._check(now, until, deadline, why)
        await self._sleep(until - now)

    # -- reading answers ------------------------------------------------------------------------

    def observe(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes | None = None,
        route: str | None = None,
    ) -> None:
        """Tighten the budget from one answer of the CRM (any status) to ``route``."""
        now = self._clock()
        lower = {str(name).lower(): value for name, value in headers.items()}
        reading = self._read(lower, now)
        refused = self.rates.refused(status, body)
        self._inflight.done(owner())
        if reading is not None:
            before = self._remaining
            self._limit, self._remaining = reading.limit, reading.remaining
            self._seen, self._cold = True, False
            if self._counting:
                self._count(now, reading, before)
            self._learn(reading)
        self._cold = False  # any answer opens the gate; one without headers has none to teach
        spent = reading is not None and reading.remaining <= 0
        pace = self._routes.get(route) if route is not None else None
        if refused and not spent and pace is not None and route is not None:
            retry_after = number(lower.get("retry-after"))
            self._pause_route(now, route, pace.window if retry_after is None else retry_after)
        elif refused or spent:
            self._pause(now, self._pause_length(now, lower, reading, refused))
            self._left = None  # the pause stands for the window: counted afresh after it
        elif reading is not None and self.rates.rolling:
            self._spent_pause = self._probe
        if reading is not None:
            self._pace(now, reading)

    def _read(self, h: dict[str, str], now: float) -> _Reading | None:
        report = self.rates.report(h)
        if report is None:
            return None
        if self.rates.rolling:
            return _Reading(report.limit, report.remaining, now + self._window, self._window)
        window = report.window if report.window is not None else self._window
        if report.reset_in is None:
            return self._estimated(report.limit, report.remaining, window, now)
        return _Reading(report.limit, report.remaining, now + report.reset_in, window)

    def _estimated(self, limit: float, remaining: float, window: float, now: float) -> _Reading:
        """A reading of a CRM that does not say when its window resets: the reset is
        ``window`` after the first answer seen in the current window."""
        estimate = self._estimate
        if estimate is None or now >= estimate[0] or remaining > estimate[1]:
            end = now + window
        else:
            end = estimate[0]
        self._estimate = (end, remaining)
        return _Reading(limit, remaining, end, window)

    def _pause_length(
        self, now: float, h: dict[str, str], reading: _Reading | None, refused: bool
    ) -> float:
        if refused:
            retry_after = number(h.get("retry-after"))
            if retry_after is not None:
                return retry_after
        if self.rates.rolling:
            if now < self._paused_until:  # an answer to a call sent before the pause
                return 0.0
            length = self._spent_pause
            self._spent_pause = min(self._spent_pause * 2, self._window)
            return length
        if reading is not None:
            return reading.reset_at - now
        return self._window

    def _pause(self, now: float, length: float) -> None:
        until = now + min(max(length, 0.0), MAX_PAUSE)
        if until <= self._paused_until:
            return
        if now >= self._paused_until:
            log.warning(
                "source %s is out of rate budget: pausing it for %.1f s", self.source, until - now
            )
        self._paused_until = until

    def _pause_route(self, now: float, route: str, length: float) -> None:
        until = now + min(max(length, 0.0), MAX_PAUSE)
        if until <= self._route_paused.get(route, -math.inf):
            return
        log.warning(
            "route %s of source %s is out of its own rate budget: pausing it for %.1f s",
            route,
            self.source,
            until - now,
        )
        self._route_paused[route] = until

    def _pace(self, now: float, reading: _Reading) -> None:
        if not 0 < reading.remaining < self._headroom * reading.limit:
            self._spacing = None
            return
        # A reset already passed gives a spacing of 0 or less: no wait.
        spacing = (reading.reset_at - now) / reading.remaining
        if self.rates.rolling:
            spacing = min(spacing, self._probe)
        self._spacing, self._spacing_until = spacing, reading.reset_at

    # -- visibility -----------------------------------------------------------------------------

    def state(self) -> BudgetState:
        now = self._clock()
        paused = self._paused_until if now < self._paused_until else None
        routes = {route: until for route, until in self._route_paused.items() if now < until}
        return BudgetState(self._limit, self._remaining, paused, self.source, routes)
