"""A background loop whose passes keep failing (its store's Redis is down, its CRM is away),
told once rather than at every pass.

The webhook worker looks for work five times a second; with its Redis down it logged a
traceback at each look, and the outbox worker and the Salesforce poll did the same: two
workers wrote 1.1 MB of log in 20 s. :class:`Outage` logs the first failure of a kind (with
its traceback, unless the error says all there is to say: Redis or a socket away, a CRM's
error), only counts the repeats, and says when a pass works again (after how long, how many
failed passes). It also gives the pause before the next try: the loop's own, doubled at each
failure in a row, up to ``longest``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from redis.exceptions import RedisError

_NUMBERS = re.compile(r"\d+(?:\.\d+)?")

#: Failures that say all there is to say (a Redis or a socket away): logged without a traceback.
UNAVAILABLE: tuple[type[BaseException], ...] = (RedisError, OSError)


class Outage:
    """The failures in a row of one loop's passes, and what the log has been told of them."""

    def __init__(
        self,
        what: str,
        log: logging.Logger,
        *,
        longest: float = 5.0,
        level: int = logging.ERROR,
        consequence: str | None = None,
        units: tuple[str, str] = ("pass", "passes"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: What fails, as the log says it: "webhook worker pass".
        self.what = what
        self.log = log
        self.longest = longest
        #: How a failure is logged (a recovery is a warning).
        self.level = level
        #: What the failure means meanwhile; unset: the loop retries with backoff.
        self.consequence = consequence
        #: What the failures are counted as, one and many: a loop's passes, a limiter's checks.
        self.units = units
        self.clock = clock
        #: Failed passes in a row (0: the last pass worked).
        self.failures = 0
        self._since = 0.0
        self._told: str | None = None

    def failed(self, error: BaseException, pause: float, *, expected: bool = False) -> float:
        """A pass failed with ``error``: logged if it is the first, or another kind of
        failure than the one last logged (with its traceback unless ``expected``). Returns
        the seconds to wait before the next pass."""
        expected = expected or isinstance(error, UNAVAILABLE)
        if self.failures == 0:
            self._since = self.clock()
        self.failures += 1
        kind = f"{type(error).__name__}: {error}"
        longest = max(pause, self.longest)
        # The same failure, whatever its numbers say (a retry-after, an elapsed time, an id).
        same = _NUMBERS.sub("#", kind)
        if same != self._told:
            self._told = same
            meanwhile = self.consequence or f"retrying with backoff up to {longest} s"
            self.log.log(
                self.level,
                "%s failed (%s); %s; the same failure is not logged again until it works",
                self.what,
                kind,
                meanwhile,
                exc_info=None if expected else error,
            )
        return min(longest, pause * 2.0 ** min(self.failures - 1, 32))

    def worked(self) -> None:
        """A pass worked: if passes had been failing, say so once."""
        if self.failures == 0:
            return
        self.log.warning(
            "%s works again, after %d failed %s over %.1f s",
            self.what,
            self.failures,
            self.units[self.failures != 1],
            self.clock() - self._since,
        )
        self.failures = 0
        self._told = None
