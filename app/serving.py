"""Serving an ASGI app from the command line on a port bound before anything else starts.

``crmgraph serve`` and ``crmgraph simulate`` bind their listening socket first, so a port in
use is one clear line (:class:`PortUnavailable`) before the simulators, the gateway or the
demo's files are touched, and never a traceback from deep inside uvicorn; uvicorn then serves
on that very socket, so no other process can take the port in between.

:func:`serve_workers` serves with several processes: uvicorn's supervisor starts each worker
(a fresh interpreter that builds the app from an import string) on that same socket, so the
kernel hands each new connection to one of them; it restarts a worker that dies, and stops
them all on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess


class PortUnavailable(Exception):
    """The port cannot be listened on (in use, not allowed, an unknown host); the message
    says which and what to do."""


def listen(host: str, port: int, hint: str = "", whose: str = "") -> socket.socket:
    """A socket bound to ``host:port`` and listening. The message of a port in use names the
    port (``whose`` it is meant to be, if said) and ends with ``hint`` (how to choose another)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise PortUnavailable(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    # As uvicorn does: a port left in TIME_WAIT by the last run is free to take again.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            meant = f" ({whose})" if whose else ""
            advice = f"; {hint}" if hint else ""
            raise PortUnavailable(f"port {port} on {host}{meant} is in use{advice}") from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def check_free(host: str, port: int, hint: str = "", whose: str = "") -> None:
    """Raise :class:`PortUnavailable` unless ``host:port`` can be listened on right now."""
    listen(host, port, hint, whose).close()


def serve(app: Any, sock: socket.socket, **config: Any) -> bool:
    """Serve ``app`` on ``sock`` until a signal stops it (uvicorn's keyword ``config``);
    whether it started (its failure is in the log)."""
    server = uvicorn.Server(uvicorn.Config(app, **config))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn stops gracefully on Ctrl-C, then raises the signal again for its caller.
        pass
    except SystemExit:
        # uvicorn exits this way when the app's startup fails, after logging why.
        return False
    finally:
        sock.close()
    return server.started


def serve_workers(app: str, sock: socket.socket, workers: int, **config: Any) -> bool:
    """Serve the app that the import string ``app`` names (``module:factory``, called in each
    worker) with ``workers`` processes on ``sock``, until Ctrl-C or SIGTERM stops them all;
    whether they started (a worker whose start-up failed stops the others: its log says why)."""
    supervisor = Multiprocess(
        uvicorn.Config(app, factory=True, workers=workers, **config), sockets=[sock]
    )
    try:
        supervisor.run()
    finally:
        sock.close()
    return not any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
