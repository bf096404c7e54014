import pytest

from app.resilience.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failure_rate=0.5, min_calls=4, window=10, open_for=5, clock=clock)


def due_a_probe(clock: Clock) -> CircuitBreaker:
    """A breaker opened by 4 failures, ``open_for`` ago."""
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    clock.now += 5
    return b


def test_it_opens_when_the_failure_rate_is_reached_over_enough_calls() -> None:
    clock = Clock()
    b = breaker(clock)
    for ok in (True, False, True):
        b.record(ok)
    assert b.state == "closed"  # 3 calls: under min_calls
    b.record(False)
    assert b.state == "open"
    assert not b.allow()
    assert b.retry_after() == 5


def test_failures_in_a_row_open_it_whatever_the_window_holds() -> None:
    clock = Clock()
    b = CircuitBreaker(min_calls=4, window=10, open_for=5, consecutive=4, clock=clock)
    for _ in range(1000):  # a busy window of good calls
        b.record(True)
    for _ in range(3):
        b.record(False)
    b.record(True)  # a success ends the run
    for _ in range(3):
        b.record(False)
    assert b.state == "closed"
    b.record(False)
    assert b.state == "open"
    clock.now += 5
    assert b.allow()
    b.record(True)
    for _ in range(3):  # the run that opened it counts no longer
        b.record(False)
    assert b.state == "closed"


def test_without_consecutive_a_busy_window_keeps_it_closed() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(1000):
        b.record(True)
    for _ in range(20):
        b.record(False)
    assert b.state == "closed"


def test_old_calls_leave_the_window() -> None:
    clock = Clock()
    b = breaker(clock)
    b.record(False)
    b.record(False)
    clock.now = 11
    b.record(True)
    b.record(False)
    assert b.state == "closed"  # the first two failures are out of the 10 s window


def test_failures_that_left_the_window_or_preceded_a_close_no_longer_count() -> None:
    clock = Clock()
    b = breaker(clock)
    b.record(False)
    clock.now = 5
    b.record(True)
    b.record(True)
    clock.now = 11  # the failure at 0 leaves the window
    b.record(False)
    b.record(True)
    assert b.state == "closed"  # 1 of 4 failed (2 of 4 if the one at 0 still counted)
    b.record(False)
    assert b.state == "closed"  # 2 of 5
    b.record(False)
    assert b.state == "open"  # 3 of 6
    clock.now = 17
    assert b.allow()
    b.record(True)  # the probe closes it: the count starts again
    for ok in (True, False, True, True):
        b.record(ok)
    assert b.state == "closed"  # 1 of 4 since the probe


def test_after_open_for_one_probe_goes_through_and_success_closes() -> None:
    clock = Clock()
    b = due_a_probe(clock)
    assert b.state == "half_open"
    assert b.allow()
    assert not b.allow()  # one probe at a time
    b.record(True)
    assert b.state == "closed"
    assert b.allow()


def test_a_failed_probe_opens_it_again() -> None:
    clock = Clock()
    b = due_a_probe(clock)
    assert b.allow()
    b.record(False)
    assert b.state == "open"
    assert b.opened == 2


def test_a_probe_that_never_reports_does_not_hold_the_breaker_forever() -> None:
    # A probe's caller cancelled (a client that hung up) records nothing: before, every later
    # call was refused with CIRCUIT_OPEN, for as long as the process ran.
    clock = Clock()
    b = due_a_probe(clock)
    assert b.allow()  # the probe, whose caller is then cancelled
    clock.now = 9.9
    assert not b.allow()  # still its turn
    clock.now = 10
    assert b.allow()  # open_for later, another probe goes
    b.record(True)
    assert b.state == "closed"


def test_an_abandoned_probe_lets_the_next_call_probe_at_once() -> None:
    clock = Clock()
    b = due_a_probe(clock)
    assert b.allow()
    b.abandon()
    assert b.state == "half_open"
    assert b.allow()
    assert not b.allow()
    b.abandon()
    b.abandon()  # twice, or with no probe out: nothing changes
    assert b.allow()


def test_attempt_records_failures_successes_and_abandons_the_rest() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        with pytest.raises(OSError, match="refused"), b.attempt((OSError,)):
            raise OSError("refused")
    assert b.state == "open"
    clock.now = 5
    assert b.allow()
    with pytest.raises(KeyboardInterrupt), b.attempt((OSError,)):
        raise KeyboardInterrupt  # not a verdict on the service: the probe is handed on
    assert b.allow()
    with b.attempt((OSError,)):
        pass
    assert b.state == "closed"
