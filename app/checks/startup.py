"""The live check run once as the gateway starts, and what ``/readyz`` says of it.

Start-up waits for it at most ``server.startup_check_seconds``; a check still running then
finishes in the background (``/readyz`` says ``running``). What it learnt (a Salesforce
org's lead statuses) is handed to the gateway's connector of that source, so writes send the
org's own values.

Readiness: an *error* (the config or the field maps name a field, property, brand or status
value the CRM does not have) makes ``/readyz`` answer 503 with ``ready: false`` and the
problems: reads that need it fail on every call, and a rollout of such a config should stop
rather than take traffic. A CRM that could not be reached, or warnings alone, leave the
gateway ready (the CRM may come back; what it cannot do is refused cleanly). While the
gateway is not ready for that reason, ``/readyz`` runs the check again at most once every
``RECHECK_SECONDS``, so a field added in the CRM is seen without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from app.checks.live import LiveReport, run_live_check
from app.config import Settings

log = logging.getLogger(__name__)
RECHECK_SECONDS = 30.0


class StartupCheck:
    def __init__(self) -> None:
        self.task: asyncio.Task[LiveReport] | None = None
        self.report: LiveReport | None = None
        self._run: Any = None  # starts one more run of the check
        self._started = 0.0

    async def start(
        self,
        settings: Settings,
        connectors: Mapping[str, Any],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Run the check, waiting for it no longer than the config allows."""
        if not settings.server.startup_check:
            return

        async def run() -> LiveReport:
            report = await run_live_check(settings, transport)
            self._done(report, connectors)
            return report

        def launch() -> None:
            self._started = asyncio.get_running_loop().time()
            self.task = asyncio.create_task(run(), name="startup-live-check")
            self.task.add_done_callback(_log_failure)

        self._run = launch
        launch()
        assert self.task is not None
        await asyncio.wait({self.task}, timeout=settings.server.startup_check_seconds)

    def _done(self, report: LiveReport, connectors: Mapping[str, Any]) -> None:
        self.report = report
        for name, learn in report.learned.items():
            if name in connectors:
                learn(connectors[name])
        for problem in report.problems:
            level = logging.ERROR if problem.severity == "error" else logging.WARNING
            log.log(level, "live check: %s", problem.line())
        for name, why in report.unreachable.items():
            log.warning("live check: source %s could not be reached: %s", name, why)

    def recheck_if_stale(self) -> None:
        """While misconfigured, run the check again in the background (at most every
        ``RECHECK_SECONDS``)."""
        if not self.misconfigured or self._run is None or self.state == "running":
            return
        if asyncio.get_running_loop().time() - self._started >= RECHECK_SECONDS:
            self._run()

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    @property
    def state(self) -> str:
        if self.task is None:
            return "off"
        if not self.task.done():
            return "running"
        if self.task.cancelled() or self.task.exception() is not None:
            return "failed"
        return "done"

    @property
    def misconfigured(self) -> bool:
        """The CRMs lack something the config names (an error, not a warning)."""
        return self.report is not None and bool(self.report.errors)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"state": self.state}
        if self.state == "failed" and self.task is not None and not self.task.cancelled():
            error = self.task.exception()
            body["error"] = type(error).__name__
        if self.report is not None:
            body["problems"] = [p.as_json() for p in self.report.problems]
            body["unreachable"] = dict(self.report.unreachable)
        return body


def _log_failure(task: asyncio.Task[LiveReport]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live check at start failed", exc_info=task.exception())
