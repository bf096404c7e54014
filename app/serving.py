"""Serving an ASGI app from the command line on a port bound before anything else starts.

``crmgraph serve`` and ``crmgraph simulate`` bind their listening socket first, so a port in
use is one clear line (:class:`PortUnavailable`) before the simulators, the gateway or the
demo's files are touched, and never a traceback from deep inside uvicorn; uvicorn then serves
on that very socket, so no other process can take the port in between.

:func:`serve_workers` serves with several processes: uvicorn's supervisor starts each worker
(a fresh interpreter that builds the app from an import string) on that same socket, so the
kernel hands each new connection to one of them; it restarts a worker that dies, and stops
them all on Ctrl-C or SIGTERM. A worker never outlives its supervisor (:func:`follow_supervisor`):
when the supervisor is killed (``kill -9``, the OOM killer), each worker is sent SIGTERM and
stops as on Ctrl-C, instead of serving on, unsupervised, from the inherited socket.

:func:`tune_gc` sets the garbage collector up for serving, once the app is built.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import gc
import os
import signal
import socket
import sys
import threading
import time
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


def tune_gc(allocations: int) -> None:
    """Python's cyclic collector, set for a server whose app is built: the start-up heap
    (modules, the schema, the config: ~150,000 objects) is frozen, so no collection walks it
    again, and the youngest generation is collected every ``allocations`` new objects instead
    of 700, most of a query's objects being gone by then. With Python's settings a dashboard
    query spent ~25 % of its CPU in collections (``make bench``, profile). 0 changes nothing."""
    if allocations <= 0:
        return
    gc.collect()  # start-up's garbage first, or it would be frozen with the rest
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(allocations, older, oldest)


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


#: The supervisor's process id, as its workers inherit it.
SUPERVISOR_ENV = "CRMGRAPH_SUPERVISOR_PID"
#: ``prctl`` option: the signal a process receives when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1
#: How often a worker looks whether its supervisor is alive where the kernel cannot say.
_WATCH_SECONDS = 1.0


def follow_supervisor() -> None:
    """In a worker process: be sent SIGTERM when the supervisor dies. On Linux the kernel
    sends it (``PR_SET_PDEATHSIG``); elsewhere a thread looks every second. A supervisor that
    died before this was set up is noticed at once (the worker's parent is no longer it)."""
    supervisor = int(os.environ.get(SUPERVISOR_ENV, "0"))
    if not supervisor:
        return
    if not (sys.platform == "linux" and _death_signal(signal.SIGTERM)):
        threading.Thread(target=_watch, args=(supervisor,), daemon=True).start()
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)


def _death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies; whether it took."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(_WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def serve_workers(app: str, sock: socket.socket, workers: int, **config: Any) -> bool:
    """Serve the app that the import string ``app`` names (``module:factory``, called in each
    worker) with ``workers`` processes on ``sock``, until Ctrl-C or SIGTERM stops them all;
    whether they started (a worker whose start-up failed stops the others: its log says why)."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # inherited by each worker it starts
    supervisor = Multiprocess(
        uvicorn.Config(app, factory=True, workers=workers, **config), sockets=[sock]
    )
    try:
        supervisor.run()
    finally:
        sock.close()
    return not any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
