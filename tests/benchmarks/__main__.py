"""`make bench`: every benchmark, printed as one report.

Figures are measured on this machine in one process run; ratios compare runs made side by side
in that same run, because absolute numbers on a shared two-core machine are noisy.
"""

from __future__ import annotations

import asyncio
import sys

from tests.benchmarks import burst, dashboard, importer, overhead, polling, simulators, webhooks


def main() -> int:
    print("crmgraph benchmarks\n")
    asyncio.run(simulators.run())
    asyncio.run(dashboard.run())
    asyncio.run(overhead.run())
    asyncio.run(polling.run())
    asyncio.run(burst.run())
    asyncio.run(importer.run())
    asyncio.run(webhooks.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
