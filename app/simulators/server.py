"""The simulators behind one server, under the prefixes the gateway's config names."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from app.simulators.control import SimulatorControl
from app.simulators.world import World, build_world

#: vendor → URL prefix; the module ``app.simulators.<vendor>.app`` has ``create_app(world)``.
VENDORS: dict[str, str] = {
    "hubspot": "/hubspot",
    "salesforce": "/salesforce",
    "zendesk": "/zendesk",
    "player_stats": "/players",
    "dynamics": "/dynamics",
}


def create_simulators(world: World, vendors: Sequence[str] = tuple(VENDORS)) -> Starlette:
    """One ASGI app serving the named simulators (all by default) under their prefixes."""
    mounts = []
    for vendor in vendors:
        if vendor not in VENDORS:
            raise ValueError(f"unknown simulator {vendor!r}; choose from {', '.join(VENDORS)}")
        module = importlib.import_module(f"app.simulators.{vendor}.app")
        app: SimulatorControl = module.create_app(world)
        mounts.append(Mount(VENDORS[vendor], app=app))
    return Starlette(routes=mounts)


@dataclass(frozen=True, slots=True)
class RunningSimulators:
    base_url: str
    prefixes: tuple[str, ...]

    def url(self, prefix: str) -> str:
        return f"{self.base_url}{prefix}"


def bind_loopback(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it the stock asyncio loop's answers wait on
    # Nagle's algorithm and the peer's delayed ACK (~40 ms a request on loopback).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


@contextlib.contextmanager
def serve_asgi(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve any ASGI app from a background thread; yields its base URL (port 0 picks one)."""
    sock = bind_loopback(port, host)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="critical", lifespan="auto", access_log=False)
    )
    # The stock asyncio loop: uvloop loops in several threads of one process (the tests run
    # simulators and gateways side by side) have crashed the process with a segfault here.
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True, name="asgi"
    )
    thread.start()
    ready = threading.Event()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server failed to start")
        ready.wait(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def serve_in_thread(
    seed: int = 42,
    vendors: Sequence[str] = tuple(VENDORS),
    world: World | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[RunningSimulators]:
    """Serve simulators from a background thread (tests, bench, the demo); port 0 picks one."""
    app = create_simulators(world or build_world(seed), vendors)
    with serve_asgi(app, host, port) as base_url:
        yield RunningSimulators(base_url=base_url, prefixes=tuple(VENDORS[v] for v in vendors))
