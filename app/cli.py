"""The ``crmgraph`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def _simulate(args: argparse.Namespace) -> int:
    import uvicorn

    from app.simulators.server import VENDORS, create_simulators
    from app.simulators.world import build_world

    started = time.perf_counter()
    vendors = args.only.split(",") if args.only else list(VENDORS)
    app = create_simulators(build_world(args.seed), vendors)
    print(
        f"crmgraph simulators (seed {args.seed}, built in {time.perf_counter() - started:.2f}s): "
        + ", ".join(f"http://{args.host}:{args.port}{VENDORS[v]}" for v in vendors),
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser(
        "simulate", help="serve the HubSpot, Salesforce, Zendesk and player-stats simulators"
    )
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8001)
    simulate.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    simulate.add_argument(
        "--only", default="", help="comma-separated subset: hubspot,salesforce,zendesk,player_stats"
    )
    simulate.set_defaults(handler=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
