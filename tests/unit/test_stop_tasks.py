"""Background tasks stop at shutdown even when a cancellation is lost on the way (as redis-py
8 can lose one mid-command), and a task that never stops is named, not waited on forever."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.main import stop_tasks


def stubborn(
    swallow: int, stop: asyncio.Event | None = None
) -> tuple[asyncio.Task[None], list[int]]:
    """A worker loop that ignores its first ``swallow`` cancellations."""
    lost = [0]

    async def loop() -> None:
        while stop is None or not stop.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                lost[0] += 1
                if lost[0] > swallow:
                    raise

    return asyncio.create_task(loop(), name="stubborn"), lost


async def test_a_lost_cancellation_is_sent_again() -> None:
    task, lost = stubborn(swallow=2)
    await asyncio.sleep(0)
    await stop_tasks([task], grace=5)
    assert task.cancelled()
    assert lost[0] == 3


async def test_a_task_that_will_not_stop_is_named_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    task, _ = stubborn(swallow=10**9, stop=stop)
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="app.main"):
        await stop_tasks([task], grace=0.3)
    assert not task.done()
    assert "stubborn" in caplog.text
    stop.set()
    task.cancel()  # swallowed; the loop then sees stop
    await task


async def test_a_task_that_had_failed_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("the worker fell over")

    task = asyncio.create_task(broken(), name="broken")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="app.main"):
        await stop_tasks([task])
    assert "broken" in caplog.text
    assert "the worker fell over" in caplog.text
