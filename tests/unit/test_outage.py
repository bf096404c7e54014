"""A loop's failing passes are told once: the first failure of a kind (with its traceback
unless expected), then nothing until another kind of failure or a pass that works, which says
how long and how many passes it was; the pause doubles per failure up to its cap."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.resilience.outage import Outage

LOGGER = "tests.outage"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def test_the_first_failure_is_told_with_its_traceback_and_repeats_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = Outage("a pass", logging.getLogger(LOGGER), longest=5.0, clock=clock)
    with caplog.at_level(logging.DEBUG, LOGGER):
        pauses = [outage.failed(ValueError("bad row"), 0.2) for _ in range(8)]
    [told] = records(caplog)
    assert told.levelno == logging.ERROR
    assert "a pass failed (ValueError: bad row)" in told.getMessage()
    assert "up to 5.0 s" in told.getMessage()
    assert told.exc_info is not None  # unexpected: its traceback is kept
    assert pauses == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])
    assert outage.failures == 8


def test_an_unavailable_redis_is_told_without_a_traceback_and_another_failure_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = Outage("a pass", logging.getLogger(LOGGER), level=logging.WARNING)
    refused = RedisConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
    with caplog.at_level(logging.DEBUG, LOGGER):
        for _ in range(3):
            outage.failed(refused, 1.0)
        outage.failed(RedisConnectionError("Timeout connecting to server"), 1.0)
        outage.failed(OSError("no route"), 1.0, expected=True)
    told = records(caplog)
    assert [r.levelno for r in told] == [logging.WARNING] * 3
    assert [r.exc_info for r in told] == [None, None, None]
    assert "Connection refused" in told[0].getMessage()
    assert "Timeout connecting" in told[1].getMessage()


def test_a_pass_that_works_again_says_for_how_long_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = Outage("a pass", logging.getLogger(LOGGER), clock=clock)
    with caplog.at_level(logging.DEBUG, LOGGER):
        outage.worked()  # nothing had failed: nothing to say
        for _ in range(4):
            outage.failed(OSError("refused"), 0.5)
            clock.now += 2.5
        outage.worked()
        outage.worked()
        pause = outage.failed(OSError("refused"), 0.5)  # a new outage starts from the start
    first, recovered, again = records(caplog)
    assert "a pass failed (OSError: refused)" in first.getMessage()
    assert recovered.getMessage() == "a pass works again, after 4 failed passes over 10.0 s"
    assert recovered.levelno == logging.WARNING
    assert "a pass failed (OSError: refused)" in again.getMessage()  # told: a new outage
    assert pause == 0.5


def test_a_loop_slower_than_the_cap_keeps_its_own_pause() -> None:
    outage = Outage("a poll", logging.getLogger(LOGGER), longest=30.0)
    assert [outage.failed(OSError("x"), 60.0) for _ in range(3)] == [60.0, 60.0, 60.0]


def test_a_limiter_says_what_the_failure_means_and_counts_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = Outage(
        "the limit",
        logging.getLogger(LOGGER),
        consequence="served unchecked",
        units=("check", "checks"),
        clock=clock,
    )
    with caplog.at_level(logging.DEBUG, LOGGER):
        outage.failed(OSError("refused"), 0.0)
        outage.failed(OSError("refused"), 0.0)
        clock.now += 3.0
        outage.worked()
    failed, recovered = (r.getMessage() for r in records(caplog))
    assert failed == (
        "the limit failed (OSError: refused); served unchecked; the same failure is not logged "
        "again until it works"
    )
    assert recovered == "the limit works again, after 2 failed checks over 3.0 s"


def test_failures_that_differ_only_in_their_numbers_are_one_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = Outage("a poll", logging.getLogger(LOGGER))
    with caplog.at_level(logging.DEBUG, LOGGER):
        for seconds in (1.5, 12.0, 30.25):
            outage.failed(TimeoutError(f"no answer after {seconds} s (request 42{seconds})"), 1)
        outage.failed(TimeoutError("the deadline passed"), 1)
    told = [r.getMessage() for r in records(caplog)]
    assert len(told) == 2
    assert "no answer after 1.5 s" in told[0]
    assert "the deadline passed" in told[1]


def test_one_failure_is_counted_in_the_singular(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("a pass", logging.getLogger(LOGGER))
    with caplog.at_level(logging.DEBUG, LOGGER):
        outage.failed(OSError("refused"), 0.1)
        outage.worked()
    assert "a pass works again, after 1 failed pass over " in records(caplog)[-1].getMessage()
