"""One HTTP exchange bounded in time and in size, whatever the server does.

httpx's timeouts bound each step (connecting, each read), not the whole: a server that sends
a few bytes every few seconds keeps a request going for as long as it likes, and an answer is
read into memory however large it is. Here the exchange, from sending to the answer's last
byte, must end within ``seconds`` (``TimeoutError`` otherwise), and the answer, decoded, may
hold at most ``limit`` bytes (:class:`AnswerTooLarge`, raised before reading when the
declared length already says so). Either way the connection is closed, not kept half-read.
"""

from __future__ import annotations

import asyncio

import httpx

#: One attempt's longest time, from sending to the answer's last byte, and its largest answer,
#: unless a source's ``timeout.total`` and ``max_response_bytes`` say otherwise.
DEFAULT_TOTAL_SECONDS = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class AnswerTooLarge(Exception):
    """The answer holds (or declares) more than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


async def exchange(
    client: httpx.AsyncClient, request: httpx.Request, *, limit: int, seconds: float | None
) -> httpx.Response:
    """``request`` sent and its whole answer read (``response.content``), within ``seconds``
    (None: only httpx's own timeouts) and ``limit`` bytes."""
    async with asyncio.timeout(seconds):
        response = await client.send(request, stream=True)
        try:
            await read_within(response, limit)
        finally:
            await response.aclose()
    return response


async def read_within(response: httpx.Response, limit: int) -> bytes:
    """A streamed ``response``'s whole body, decoded, if it holds at most ``limit`` bytes;
    afterwards ``response.content`` is set, as by ``Response.aread``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge(limit)
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > limit:
            raise AnswerTooLarge(limit)
        parts.append(part)
    response._content = b"".join(parts)
    return response._content
