"""The ``crmgraph`` command."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.auth.keys_cli import add_keys_commands
from app.command import CommandError
from app.config import Observability
from app.observability.logging import configure_logging
from app.webhooks.dlq_cli import add_dlq_commands
from app.writes.import_cli import add_import_commands
from app.writes.outbox_cli import add_outbox_commands

if TYPE_CHECKING:
    from app.config import Settings
    from app.demo import DemoFolder, DemoKey

log = logging.getLogger("app.serve")


def _listen(host: str, port: int, hint: str) -> socket.socket:
    from app.serving import PortUnavailable, listen

    try:
        return listen(host, port, hint)
    except PortUnavailable as exc:
        raise CommandError(str(exc)) from None


def _served(
    app: Any, sock: socket.socket, workers: int = 1, gc_allocations: int = 0, **config: Any
) -> int:
    """Serve ``app`` on ``sock``: in this process (its collector tuned, :func:`tune_gc`), or
    with ``workers`` processes, each building the app from ``CONFIG_ENV``
    (:func:`worker_app`)."""
    from app.serving import serve, serve_workers, tune_gc

    if workers == 1:
        tune_gc(gc_allocations)
    started = (
        serve_workers(f"{__name__}:worker_app", sock, workers, **config)
        if workers > 1
        else serve(app, sock, **config)
    )
    if not started:
        raise CommandError("the server did not start (the log above says why)")
    return 0


#: The config file each worker process of ``serve --workers N`` builds its app from.
CONFIG_ENV = "CRMGRAPH_WORKER_CONFIG"


def worker_app() -> Any:
    """The gateway of one worker process (uvicorn's app factory for ``--workers N``)."""
    from app import client_limits
    from app.config import load_config
    from app.main import create_app
    from app.serving import follow_supervisor, tune_gc

    follow_supervisor()
    settings = load_config(Path(os.environ[CONFIG_ENV]))
    # Each worker is a fresh interpreter: the supervisor's setting is not inherited.
    client_limits.allow(settings.server)
    app = create_app(settings)
    tune_gc(settings.server.gc_allocations)
    return app


def _unshared(settings: Settings) -> list[str]:
    """What these settings keep inside one process, that several workers would each keep
    their own of, breaking its guarantees."""
    found = []
    if settings.redis_url is None:
        found.append(
            "redis_url (rate budgets, idempotency keys, the webhook queue and its "
            "de-duplication, the change bus of subscriptions)"
        )
    if settings.writes.backend != "redis":
        found.append("writes.backend: redis (the outbox)")
    return found


def _workers(requested: int | None, settings: Settings) -> tuple[int, str]:
    """How many worker processes to serve with: ``--workers``, else one per core when the
    config shares its state through Redis, else 1; and why 1, when it was not asked for (to
    be logged once the port is taken)."""
    unshared = _unshared(settings)
    cores = os.cpu_count() or 1
    if requested is None:
        if not unshared:
            return cores, ""
        if cores == 1:
            return 1, ""
        names = " and ".join(item.split(" (")[0] for item in unshared)
        return 1, (
            f"serving with 1 worker process, not one per core ({cores}): this config keeps "
            f"its state in-process; set {names} to share it through Redis"
        )
    if requested < 1:
        raise CommandError(f"--workers must be 1 or more, not {requested}")
    if requested > 1 and unshared:
        raise CommandError(
            f"--workers {requested} needs state shared through Redis; this config does not "
            f"set {' and '.join(unshared)}"
        )
    return requested, ""


def _simulate(args: argparse.Namespace) -> int:
    from app.simulators.server import VENDORS, create_simulators
    from app.simulators.world import build_world

    sock = _listen(args.host, args.port, "choose another with --port")
    started = time.perf_counter()
    vendors = args.only.split(",") if args.only else list(VENDORS)
    app = create_simulators(build_world(args.seed), vendors)
    print(
        f"crmgraph simulators (seed {args.seed}, built in {time.perf_counter() - started:.2f}s): "
        + ", ".join(f"http://{args.host}:{args.port}{VENDORS[v]}" for v in vendors),
        flush=True,
    )
    return _served(app, sock, log_level="warning", access_log=False)


EXAMPLE_QUERY = """{
  customers(first: 5, filter: {brand: "luckyspin"}) {
    totalCount
    edges { node { id name company
      leads { id status }
      tickets(status: [OPEN, PENDING], first: 3) { id subject status requester { name } }
      playerStats { level levelName pointsBalance ggr { amount currency } }
    } }
  }
}"""


def _serve(args: argparse.Namespace) -> int:
    from app import client_limits
    from app.config import ConfigError, load_config
    from app.main import create_app

    if args.config is None:
        return _demo(args)
    try:
        settings = load_config(Path(args.config))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    workers, why = _workers(args.workers, settings)
    sock = _listen(host, port, "choose another with --port or server.port")
    if why:
        log.info(why)
    processes = f" with {workers} worker processes" if workers > 1 else ""
    print(f"crmgraph: serving on http://{host}:{port}{processes}", flush=True)
    os.environ[CONFIG_ENV] = str(Path(args.config).absolute())
    return _served(
        create_app(settings) if workers == 1 else None,
        sock,
        workers,
        settings.server.gc_allocations,
        log_level="info",
        timeout_keep_alive=settings.server.keep_alive_seconds,
        http=client_limits.allow(settings.server),
        # OpenTelemetry's SDK beside uvloop has been seen to crash the process (uvloop#706):
        # with tracing on, the stock asyncio loop.
        loop="asyncio" if settings.observability.tracing.enabled else "auto",
        # A websocket message is held to the same size as a request body.
        ws_max_size=settings.limits.max_body_bytes,
    )


def _demo(args: argparse.Namespace) -> int:
    """The simulators and a gateway on them, from the config the demo writes in its folder."""
    from app import client_limits
    from app.auth.keys import KeyStore
    from app.config import ConfigError, load_config, parse_config
    from app.demo import DemoFolder, demo_config, register_webhooks
    from app.main import create_app
    from app.serving import PortUnavailable, check_free
    from app.simulators.server import serve_in_thread

    host = args.host or "127.0.0.1"
    port = 8000 if args.port is None else args.port
    simulators_port = args.simulators_port or port + 1
    hint = f"choose another with --port or PORT={port + 1000} make run"
    # The demo's config has no Redis (a SQLite outbox and webhook store in its folder): one
    # worker. Decided before anything starts, from the config it is about to write.
    shape = parse_config(demo_config("http://127.0.0.1:1", crm=args.crm), "demo", False)
    workers, why = _workers(args.workers, shape)
    sock = _listen(host, port, hint)
    try:
        check_free(
            host, simulators_port, hint, whose="the simulators': --port + 1, or --simulators-port"
        )
        if why:  # once both ports are taken: a port in use stays one line
            log.info(why)
        with serve_in_thread(args.seed, host=host, port=simulators_port) as sims:
            folder = DemoFolder(Path(args.demo_dir))
            settings = load_config(folder.write_config(sims.base_url, args.crm))
            assert settings.auth.keys_file is not None
            keys = folder.demo_keys(KeyStore(settings.auth.keys_file))
            # The simulators send signed webhooks for their changes to this gateway (they
            # retry while it starts), and Salesforce is polled: the demo is live.
            gateway_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
            for problem in register_webhooks(sims.base_url, gateway_url):
                print(f"  webhooks not registered with a simulator: {problem}", flush=True)
            print(_demo_banner(host, port, sims.base_url, folder, keys), flush=True)
            os.environ[CONFIG_ENV] = str(folder.config)
            return _served(
                create_app(settings) if workers == 1 else None,
                sock,
                workers,
                settings.server.gc_allocations,
                log_level="warning",
                timeout_keep_alive=settings.server.keep_alive_seconds,
                http=client_limits.allow(settings.server),
                ws_max_size=settings.limits.max_body_bytes,
            )
    except BrokenPipeError:
        raise  # main's to handle: the banner's reader went away
    except (PortUnavailable, ConfigError, OSError) as exc:  # OSError: the folder's files
        raise CommandError(str(exc)) from None
    finally:
        sock.close()


def _demo_banner(
    host: str, port: int, simulators: str, folder: DemoFolder, keys: list[DemoKey]
) -> str:
    shown = "\n".join(
        f"    {role:<10} {','.join(brands):<10} X-API-Key: {key}" for role, brands, key in keys
    )
    config = _shown_path(folder.config)
    return (
        f"crmgraph demo\n"
        f"  GraphiQL:   http://{host}:{port}/graphql  (no key: the read-only analyst role)\n"
        f"  simulators: {simulators}/{{hubspot,salesforce,zendesk,players,dynamics}}\n"
        f"  folder:     {_shown_path(folder.path)}  (its config, keys, outbox and webhook "
        f"store are kept across runs; delete it to start afresh)\n"
        f"  config:     {config}  for the other commands, e.g.\n"
        f"    {_command()} keys list --config {config}\n"
        f"  API keys (send one as the X-API-Key header; kept across runs):\n{shown}\n"
        f"  try:\n{EXAMPLE_QUERY}\n"
    )


def _shown_path(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _command() -> str:
    """How to run this ``crmgraph`` from here: its name when the shell finds this one."""
    me = Path(sys.argv[0])
    if me.name != "crmgraph":  # python -m app.cli
        return "crmgraph"
    found = shutil.which("crmgraph")
    if found is not None and Path(found).resolve() == me.resolve():
        return "crmgraph"
    return _shown_path(me.absolute())


def _config_check(args: argparse.Namespace) -> int:
    from app.config import ConfigError, load_config

    if args.config is not None and args.file is not None and args.config != args.file:
        raise CommandError("give the config file once: --config FILE")
    path = args.config or args.file
    if path is None:
        raise CommandError("give the config file to check: --config FILE")
    try:
        settings = load_config(Path(path))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.live:
        return _live_check(path, settings)
    print(f"{path}: OK ({len(settings.sources)} sources)")
    return 0


#: ``config check --live``: a CRM could not be asked.
EXIT_UNREACHABLE = 2


def _live_check(path: str, settings: Any) -> int:
    """Ask each CRM what it has: one line per problem on stdout (errors first); 0 when
    there is no error, 1 when there is, 2 when a CRM could not be reached (one line each on
    stderr: which, and why)."""
    import asyncio

    from app.checks.live import run_live_check

    report = asyncio.run(run_live_check(settings))
    for problem in report.problems:
        print(problem.line())
    for name, why in report.unreachable.items():
        url = settings.sources[name].url
        print(f"{path}: source {name} ({url}) could not be reached: {why}", file=sys.stderr)
    if report.unreachable:
        return EXIT_UNREACHABLE
    errors, warnings = len(report.errors), len(report.warnings)
    if errors:
        print(f"{path}: {errors} problem(s), {warnings} warning(s)", file=sys.stderr)
        return 1
    print(
        f"{path}: OK ({len(settings.sources)} sources; the CRMs have what it names"
        f"{f', {warnings} warning(s)' if warnings else ''})"
    )
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
    cache, redis = build_cache(settings.cache, redis_timeout=settings.redis_timeout)
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


def _schema(args: argparse.Namespace) -> int:
    from app.config import ConfigError, load_config
    from schema import schema, schema_for

    if args.config is None:
        print(schema.as_str())
        return 0
    try:
        settings = load_config(Path(args.config), check_secrets=False)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    print(schema_for(settings.custom_fields()).as_str())
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
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes on the one port (default: one per core when the config shares "
        "its state through Redis: redis_url and writes.backend: redis; else 1)",
    )
    serve.add_argument(
        "--simulators-port", type=int, default=None, help="demo only; default: --port + 1"
    )
    serve.add_argument("--seed", type=int, default=42, help="demo only: seed of the data")
    serve.add_argument(
        "--crm",
        choices=["default", "dynamics"],
        default="default",
        help="demo only: the CRMs of customers, leads and tickets (default: HubSpot, "
        "Salesforce, Zendesk; dynamics: Dynamics 365 for all three)",
    )
    serve.add_argument(
        "--demo-dir",
        default=".crmgraph-demo",
        metavar="PATH",
        help="demo only: the folder of its config, keys, outbox and webhook store, kept "
        "across runs (default: .crmgraph-demo)",
    )
    serve.set_defaults(handler=_serve)

    config = commands.add_parser("config", help="work with config files")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser(
        "check", help="validate a config file and read the secrets it names"
    )
    check.add_argument("--config", help="the YAML config to check")
    check.add_argument("file", nargs="?", help=argparse.SUPPRESS)  # the older form
    check.add_argument(
        "--live",
        action="store_true",
        help="also ask each CRM whether the fields, properties, brands and statuses the "
        "config names exist (exit 1: problems; 2: a CRM could not be reached)",
    )
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

    schema = commands.add_parser(
        "schema", help="print the GraphQL schema (SDL), with a config's custom fields"
    )
    schema.add_argument("--config", help="the YAML config whose custom fields to show")
    schema.set_defaults(handler=_schema)
    return parser


#: The exit status of a command whose reader went away (``| head``): a shell's for a process
#: killed by SIGPIPE, 128 + 13, as ``cat`` or ``yes`` end there.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Log events go to stderr as JSON from the first line on: stdout is each command's output
    # (``serve`` configures them again from the config it loads).
    configure_logging(Observability())
    try:
        result: int = args.handler(args)
        sys.stdout.flush()  # here, so that a reader gone away is caught here
    except CommandError as exc:
        print(f"crmgraph {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader has all it wanted. Python would flush stdout again at exit and complain:
        # point stdout at /dev/null instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130  # 128 + SIGINT, without the traceback
    return result


if __name__ == "__main__":
    sys.exit(main())
