"""A cancellation that a library lost, honoured at the next step of a loop.

On Python 3.11, ``asyncio.wait_for`` drops a cancel that arrives just as what it waits for
finishes, and redis-py 8 sends every command through it: a task cancelled mid-command may
carry on as if nothing had happened. The request to stop is still counted on the task
(``Task.cancelling()``), so a long-running loop asks at each step and stops there."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task was asked to stop and is still running."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
