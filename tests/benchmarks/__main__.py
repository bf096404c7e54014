"""`make bench`: every benchmark, printed as one report.

Figures are measured on this machine in one process run; ratios compare runs made side by side
in that same run, because absolute numbers on a shared two-core machine are noisy.

`python -m tests.benchmarks NAME...` runs only the benchmarks named (e.g. `kill_writes`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from tests.benchmarks import (
    burst,
    busy,
    dashboard,
    importer,
    kill_writes,
    overhead,
    polling,
    profile,
    scaling,
    simulators,
    timeline,
    webhooks,
)

BENCHMARKS: dict[str, Callable[[], Awaitable[None]]] = {
    "simulators": simulators.run,
    "dashboard": dashboard.run,
    "timeline": timeline.run,
    "busy": busy.run,
    "profile": profile.run,
    "overhead": overhead.run,
    "polling": polling.run,
    "burst": burst.run,
    "importer": importer.run,
    "webhooks": webhooks.run,
    "kill_writes": kill_writes.run,
    "scaling": scaling.run,
}


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"no benchmark {', '.join(unknown)}; there are: {', '.join(BENCHMARKS)}")
        return 2
    print("crmgraph benchmarks\n")
    for name in names or list(BENCHMARKS):
        asyncio.run(BENCHMARKS[name]())  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
