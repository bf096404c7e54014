"""A long-running task must stop at the first cancel, wherever in its work it lands: on Python
3.11, ``asyncio.wait_for`` (which redis-py 8 sends every command through) drops a cancel that
arrives as what it waits for finishes, and a loop that does not look would carry on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest


async def each_cancel_stops(run: Callable[[], Coroutine[Any, Any, Any]], points: int) -> None:
    """Start ``run()`` and cancel it once after 1, 2, … ``points`` turns of the event loop:
    every time, it must end with ``CancelledError`` within 5 s."""
    for steps in range(points):
        task = asyncio.create_task(run())
        for _ in range(steps + 1):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
