"""The ``crmgraph`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.auth.keys_cli import add_keys_commands
from app.config import Observability
from app.observability.logging import configure_logging
from app.webhooks.dlq_cli import add_dlq_commands
from app.writes.import_cli import add_import_commands
from app.writes.outbox_cli import add_outbox_commands


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


EXAMPLE_QUERY = """{
  customers(first: 5, filter: {brand: "luckyspin"}) {
    totalCount
    edges { node { id name email company
      leads { id status }
      tickets(status: [OPEN, PENDING], first: 3) { id subject status requester { name } }
      playerStats { level levelName pointsBalance ggr { amount currency } }
    } }
  }
}"""


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.config import ConfigError, load_config
    from app.main import create_app

    if args.config:
        try:
            settings = load_config(Path(args.config))
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        host = args.host or settings.server.host
        port = args.port if args.port is not None else settings.server.port
        # OpenTelemetry's SDK beside uvloop has been seen to crash the process (uvloop#706):
        # with tracing on, the stock asyncio loop.
        loop = "asyncio" if settings.observability.tracing.enabled else "auto"
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level="info",
            loop=loop,
            # A websocket message is held to the same size as a request body.
            ws_max_size=settings.limits.max_body_bytes,
        )
        return 0

    import tempfile

    from app.demo import demo_keys, demo_settings, register_webhooks
    from app.simulators.server import serve_in_thread

    host = args.host or "127.0.0.1"
    port = 8000 if args.port is None else args.port
    simulators_port = args.simulators_port or port + 1
    with (
        tempfile.TemporaryDirectory(prefix="crmgraph-demo-") as folder,
        serve_in_thread(args.seed, host=host, port=simulators_port) as sims,
    ):
        keys_file = Path(folder) / "keys.json"
        keys = "\n".join(
            f"    {role:<10} {','.join(brands):<10} X-API-Key: {key}"
            for role, brands, key in demo_keys(keys_file)
        )
        settings = demo_settings(sims.base_url, keys_file, salesforce_poll_interval=2.0)
        # The simulators send signed webhooks for their changes to this gateway (they retry
        # while it starts), and Salesforce is polled: the demo is live.
        gateway_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        for problem in register_webhooks(sims.base_url, gateway_url):
            print(f"  webhooks not registered with a simulator: {problem}", flush=True)
        print(
            f"crmgraph demo\n"
            f"  GraphiQL:   http://{host}:{port}/graphql  (no key: the read-only analyst role)\n"
            f"  simulators: {sims.base_url}/{{hubspot,salesforce,zendesk,players}}\n"
            f"  API keys for this run (send one as the X-API-Key header):\n{keys}\n"
            f"  try:\n{EXAMPLE_QUERY}\n",
            flush=True,
        )
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level="warning",
            ws_max_size=settings.limits.max_body_bytes,
        )
    return 0


def _config_check(args: argparse.Namespace) -> int:
    from app.config import ConfigError, load_config

    try:
        settings = load_config(Path(args.file))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.file}: OK ({len(settings.sources)} sources)")
    return 0


def _cache_flush(args: argparse.Namespace) -> int:
    import asyncio

    from app.cache.flush import flush_everywhere
    from app.config import ConfigError, load_config
    from app.gateway import build_cache

    try:
        settings = load_config(Path(args.config), check_secrets=False)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    cache, redis = build_cache(settings.cache)
    if cache is None or redis is None:
        print(
            "cache.redis_url is not set: each server holds its own in-process cache, which "
            "empties by its TTLs (or a restart); there is nothing shared to flush",
            file=sys.stderr,
        )
        return 1

    async def flush() -> int:
        try:
            return await flush_everywhere(cache, redis, args.entity)
        finally:
            await redis.aclose()

    try:
        removed = asyncio.run(flush())
    except Exception as exc:
        print(f"the shared cache could not be flushed: {type(exc).__name__}", file=sys.stderr)
        return 1
    what = f"{args.entity} records" if args.entity else "every record"
    print(
        f"flushed {what} and every relation/list answer: {removed} shared entries; "
        "every running instance was told to flush its own"
    )
    return 0


def _schema(_: argparse.Namespace) -> int:
    from schema import schema

    print(schema.as_str())
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

    serve = commands.add_parser(
        "serve", help="serve the gateway (without --config: the demo, simulators included)"
    )
    serve.add_argument("--config", help="the YAML config of a real deployment")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--simulators-port", type=int, default=None, help="demo only; default: --port + 1"
    )
    serve.add_argument("--seed", type=int, default=42, help="demo only: seed of the data")
    serve.set_defaults(handler=_serve)

    config = commands.add_parser("config", help="work with config files")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(handler=_config_check)

    add_keys_commands(commands)
    add_outbox_commands(commands)
    add_dlq_commands(commands)
    add_import_commands(commands)

    cache = commands.add_parser("cache", help="the field cache")
    cache_commands = cache.add_subparsers(dest="cache_command", required=True)
    flush = cache_commands.add_parser("flush", help="empty the cache on every instance")
    flush.add_argument("--config", required=True)
    flush.add_argument("--entity", choices=["customer", "lead", "ticket", "player"])
    flush.set_defaults(handler=_cache_flush)

    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Log events go to stderr as JSON from the first line on: stdout is each command's output
    # (``serve`` configures them again from the config it loads).
    configure_logging(Observability())
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
