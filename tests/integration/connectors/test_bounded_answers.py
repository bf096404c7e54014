"""An upstream call ends within its time and its size, whatever the server does: an answer
that trickles in is cut at the attempt's total time (or the request's deadline), an answer
larger than the source's ``max_response_bytes`` is refused, by its declared length before any
of it is read, or as it comes (chunked, or compressed) once it is past the limit. Before,
httpx's per-read timeout let a trickle run for as long as the server liked, and an answer of
2 GB was read whole (the gateway's memory grew past 7 GB).

Each test talks over loopback HTTP to ``tests.misbehaving``; the counts it keeps show that
the client stopped reading, and that a connection left half-read is not used again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from app.connectors.errors import UpstreamAuthFailed, UpstreamProtocolError, UpstreamTimeout
from app.connectors.http import UpstreamClient
from app.connectors.oauth import MAX_AUTH_ANSWER_BYTES, ClientCredentials
from app.connectors.secret import LiveSecret
from app.resilience import deadline
from tests.misbehaving import Misbehaving, misbehaving

LIMIT = 1024 * 1024
TOO_LARGE = (
    f"crm: answer to GET /records is larger than {LIMIT} bytes (sources.crm.max_response_bytes)"
)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Misbehaving, UpstreamClient]]:
    server = Misbehaving()
    async with misbehaving(server) as url:
        client = UpstreamClient("crm", url, total=30, max_response_bytes=LIMIT)
        try:
            yield server, client
        finally:
            await client.aclose()


async def call(client: UpstreamClient) -> bytes:
    response = await client.send("GET", "/records", route="GET /records")
    return response.content


async def hung_up(server: Misbehaving) -> None:
    """Every connection's handler ended: the client closed them (a server left to itself
    trickles or chunks on)."""
    await asyncio.wait_for(asyncio.gather(*server.handlers), 10)


@pytest.mark.parametrize("cut_by", ["total", "deadline"])
async def test_a_trickling_answer_is_cut_at_the_attempts_total_time_or_the_deadline(
    server: tuple[Misbehaving, UpstreamClient], cut_by: str
) -> None:
    crm, client = server
    crm.mode, crm.size, crm.step, crm.pause = "trickle", 100_000, 100, 0.02  # 20 s in all
    if cut_by == "total":
        client.total = 0.3
    scope = deadline.within(0.3) if cut_by == "deadline" else contextlib.nullcontext()
    with scope, pytest.raises(UpstreamTimeout, match="GET /records timed out"):
        await call(client)
    await hung_up(crm)
    assert 0 < crm.sent < crm.size


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    server: tuple[Misbehaving, UpstreamClient],
) -> None:
    crm, client = server
    crm.mode, crm.size = "declared", 2 * 1024**3
    with pytest.raises(UpstreamProtocolError) as raised:
        await call(client)
    assert str(raised.value) == TOO_LARGE
    await hung_up(crm)
    assert crm.requests == ["/records"]  # not retried: it would be as large again


async def test_an_endless_chunked_answer_is_cut_at_the_limit(
    server: tuple[Misbehaving, UpstreamClient],
) -> None:
    crm, client = server
    crm.mode = "chunked"
    with pytest.raises(UpstreamProtocolError) as raised:
        await call(client)
    assert str(raised.value) == TOO_LARGE
    await hung_up(crm)
    assert crm.sent > LIMIT


async def test_a_compressed_answer_is_measured_decoded(
    server: tuple[Misbehaving, UpstreamClient],
) -> None:
    crm, client = server
    crm.mode, crm.size = "gzip", 50 * LIMIT  # ~50 kB on the wire
    with pytest.raises(UpstreamProtocolError) as raised:
        await call(client)
    assert str(raised.value) == TOO_LARGE
    assert crm.sent < LIMIT  # the wire carried less than the limit: the decoded answer is more


async def test_an_answer_of_the_limit_is_read_whole_on_a_kept_connection(
    server: tuple[Misbehaving, UpstreamClient],
) -> None:
    crm, client = server
    crm.size = LIMIT
    for _ in range(2):
        content = await call(client)
        assert len(content) == LIMIT
        assert client.json(await client.send("GET", "/records", route="GET /records")) == {
            "results": []
        }
    assert len(crm.requests) == 4
    assert crm.connections == 1


async def test_after_a_refused_answer_the_next_call_has_a_fresh_connection(
    server: tuple[Misbehaving, UpstreamClient],
) -> None:
    crm, client = server
    crm.mode, crm.size = "declared", LIMIT + 1
    with pytest.raises(UpstreamProtocolError):
        await call(client)
    crm.mode, crm.size = "plain", 100
    assert len(await call(client)) == 100
    assert crm.connections == 2


@pytest.mark.parametrize("refused", [False, True])
async def test_a_token_answer_or_a_refusal_too_large_is_an_auth_failure(refused: bool) -> None:
    """The OAuth flow reads the token answer, and a 401's body (to tell an expired token),
    itself: each is bounded too (1 MiB), not read whole."""
    token = b'{"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 3600}'
    issuer = Misbehaving(body=token) if refused else Misbehaving(mode="declared", size=2**31)
    crm = Misbehaving(mode="declared", size=2**31, status=401)
    async with misbehaving(issuer) as issuer_url, misbehaving(crm) as url:
        secret = LiveSecret.fixed("s3cr3t")
        auth = ClientCredentials("crm", f"{issuer_url}/token", secret, secret)
        client = UpstreamClient("crm", url, auth=auth, max_response_bytes=LIMIT)
        try:
            with pytest.raises(UpstreamAuthFailed) as raised:
                await call(client)
        finally:
            await client.aclose()
    what = "the answer to a refused (HTTP 401) request" if refused else "the token answer"
    assert str(raised.value) == f"crm: {what} is larger than {MAX_AUTH_ANSWER_BYTES} bytes"
    assert issuer.requests == ["/token"]
    assert crm.requests == (["/records"] if refused else [])
