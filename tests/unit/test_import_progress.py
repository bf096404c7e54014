"""The import's progress lines when stderr is not a terminal (a log file, a CI job)."""

from __future__ import annotations

import io

from app.writes.import_cli import LineProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_for_each_tenth_of_the_rows_and_one_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    lines = LineProgress(1000, out, clock=clock)
    for done in range(0, 1001, 50):
        lines.update(done)
    lines.finish()
    said = out.getvalue().splitlines()
    assert [line.split(" rows")[0] for line in said] == [
        f"importing leads: {n}/1000" for n in range(100, 1001, 100)
    ]
    assert said[-1] == "importing leads: 1000/1000 rows (100%), 0.0s"


def test_a_line_every_five_seconds_while_the_rows_come_slowly() -> None:
    out, clock = io.StringIO(), Clock()
    lines = LineProgress(1000, out, clock=clock)
    for done in (10, 20, 30):
        clock.now += 2.5
        lines.update(done)
    assert out.getvalue().splitlines() == ["importing leads: 20/1000 rows (2%), 5.0s"]


def test_the_last_line_is_said_once_even_when_nothing_was_done() -> None:
    out = io.StringIO()
    lines = LineProgress(0, out, clock=Clock())
    lines.update(0)
    lines.finish()
    assert out.getvalue() == "importing leads: 0/0 rows, 0.0s\n"
