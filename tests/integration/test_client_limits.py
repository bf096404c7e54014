"""A client has ``server.request_read_seconds`` to send each request whole, and
``server.max_request_head_bytes`` for its head (``app.client_limits``).

Found by trials against ``crmgraph serve``: a connection that sent nothing was still open
after 40 s, one sending its request head a byte every 0.5 s was held for as long as it went on,
and a header of 184 MB sent in 30 s was buffered whole (the process peaked at 514 MB): enough
of any exhaust the gateway's file descriptors or memory. Each test talks to the real command
(uvicorn, httptools) over loopback sockets, with the clock set to 1 s and the head bound to
8 KiB; what it asserts is whether the gateway hung up before the client was done, not how fast.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app.simulators.server import RunningSimulators
from tests.integration.test_workers import serving, write_config
from tests.upstreams import Upstreams

QUERY = b'{"query": "{ sources { name } }"}'
#: Through HubSpot: as slow as the simulator is told to be.
CUSTOMER = json.dumps({"query": "{ customers(first: 1) { edges { node { id } } } }"}).encode()


def head(body: bytes) -> bytes:
    return (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )


HEAD = head(QUERY)


@pytest.fixture
def config(tmp_path: Path, simulators: RunningSimulators, redis_url: str, prefix: str) -> Path:
    """A gateway sharing its state through Redis (so ``--workers 2`` may run it)."""
    path = write_config(tmp_path, simulators.base_url, redis_url, prefix)
    settings = yaml.safe_load(path.read_text())
    settings["server"] |= {"request_read_seconds": 1, "max_request_head_bytes": 8192}
    path.write_text(yaml.safe_dump(settings))
    return path


async def dribble(port: int, data: bytes, first: bytes = b"") -> tuple[int, bytes]:
    """``first`` sent at once, then ``data`` a byte every 0.2 s, until the gateway hangs up;
    how many bytes of ``data`` went out, and what came back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)
    sent = 0
    try:
        for byte in data:
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.2)
        answer = await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        answer = b""
    finally:
        writer.close()
    return sent, answer


async def ask(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, query: bytes = QUERY
) -> bytes:
    """``query`` sent at once on the connection; the answer's status line (the answer read)."""
    writer.write(head(query) + query)
    await writer.drain()
    return await status_of(reader)


async def status_of(reader: asyncio.StreamReader) -> bytes:
    """The next answer on the connection read; its status line."""
    status = await asyncio.wait_for(reader.readline(), 20)
    length = 0
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_connection_that_sends_nothing_is_hung_up_on(config: Path, workers: str) -> None:
    # With 2 workers, each worker process sets the clock from the config itself (the default
    # is 30 s: a close within the 10 s wait is the configured 1 s).
    with serving(config, "--workers", workers) as (_, port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()


async def test_a_request_head_or_body_sent_a_byte_at_a_time_is_hung_up_on(config: Path) -> None:
    with serving(config) as (_, port, log):
        head_sent, head_answer = await dribble(port, HEAD + QUERY)
        body_sent, body_answer = await dribble(port, QUERY, first=HEAD)
        # Meanwhile, and after, a client that sends its request at once is answered.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await ask(reader, writer) == b"HTTP/1.1 200 OK\r\n"
        writer.close()
    # Hung up on mid-head and mid-body (at ~1 s: ~5 of their bytes), with no answer.
    assert head_sent < len(HEAD)
    assert body_sent < len(QUERY)
    assert (head_answer, body_answer) == (b"", b"")
    assert log.read_text().count("no whole request within 1s") == 2


async def test_a_kept_alive_connection_and_a_slow_answer_are_not_cut(
    config: Path, upstreams: Upstreams
) -> None:
    """The clock runs only while a request is being received: not while the connection is
    idle between requests (keep_alive_seconds governs that), nor while the answer is made."""
    with serving(config) as (_, port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await ask(reader, writer) == b"HTTP/1.1 200 OK\r\n"
        await asyncio.sleep(1.5)
        await upstreams.configure("hubspot", {"latency_ms": 1500})
        try:
            assert await ask(reader, writer, CUSTOMER) == b"HTTP/1.1 200 OK\r\n"
        finally:
            await upstreams.configure("hubspot", {})
        writer.close()


async def test_a_subscription_outlives_the_clock(config: Path) -> None:
    with serving(config) as (_, port, _):
        url = f"ws://127.0.0.1:{port}/graphql"
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await asyncio.sleep(1.5)
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"


async def test_a_request_head_over_the_bound_is_refused_with_431(config: Path) -> None:
    with serving(config) as (_, port, log):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 16384)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert json.loads(body)["errors"][0]["message"] == "the request head is over 8192 bytes"
    assert "a request head over 8192 bytes" in log.read_text()


async def test_a_head_within_the_bound_and_bodies_past_it_are_answered(config: Path) -> None:
    """Only head bytes count: a 6 KiB header is answered, and so are two requests sent in one
    write, the first with a 100 kB body (read in the same reads as the next request's head)."""
    padded = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 100_000}})
    with serving(config) as (_, port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: %s\r\n\r\n" % (b"a" * 6144)
        )
        assert await status_of(reader) == b"HTTP/1.1 200 OK\r\n"
        writer.write(head(padded.encode()) + padded.encode() + head(QUERY) + QUERY)
        assert await status_of(reader) == b"HTTP/1.1 200 OK\r\n"
        assert await status_of(reader) == b"HTTP/1.1 200 OK\r\n"
        writer.close()
