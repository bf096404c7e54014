"""What a client may take, in time and in bytes, to send a request's head and body.

uvicorn's HTTP/1.1 protocol starts no clock until a response is sent, and keeps a request's
head in memory however long it grows: a connection that sends nothing, or its request a byte
at a time (a slowloris), is held open for as long as the client likes, and a header of
hundreds of megabytes is buffered whole. Enough of either exhaust the gateway's file
descriptors or its memory. :class:`BoundedRequests` is that protocol (httptools) with

- one clock per request, from the connection's opening (or the first byte of the next request
  on a kept-alive one) to the request's last byte: a client slower than
  ``server.request_read_seconds`` is hung up on. Once the request is in, the clock stops:
  answering takes what the request's deadline allows, and a websocket, once upgraded, is no
  longer this protocol's;
- a bound on the head (request line and headers), ``server.max_request_head_bytes``: past it
  the answer is 431 and the connection is closed. The head is counted as it arrives, so it
  may pass the bound by at most one read (64-256 KiB) before it is refused.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Server
from app.graphql_http import error_body

log = logging.getLogger(__name__)


class BoundedRequests(HttpToolsProtocol):
    #: ``server.request_read_seconds`` and ``server.max_request_head_bytes``, set once per
    #: process, before serving, by :func:`allow`.
    read_seconds: float = Server.model_fields["request_read_seconds"].default
    max_head_bytes: int = Server.model_fields["max_request_head_bytes"].default

    _clock: asyncio.TimerHandle | None = None
    #: Whether a request's head is being received, and its bytes so far; whether a request
    #: ended in the read being parsed.
    _in_head = True
    _head_bytes = 0
    _ended = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start()

    def data_received(self, data: bytes) -> None:
        self._ended = False
        super().data_received(data)
        # A read that ended no request and leaves a head unfinished is all head bytes. One
        # that ended a request and began the next head is not counted: one read at most.
        if self._in_head and not self._ended:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._clock is None:
            self._start()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._stop()
        self._in_head, self._head_bytes, self._ended = True, 0, True

    def handle_websocket_upgrade(self) -> None:
        self._stop()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _start(self) -> None:
        self._clock = self.loop.call_later(self.read_seconds, self._too_slow)

    def _stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _too_slow(self) -> None:
        self._clock = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        log.info("hung up on %s: no whole request within %gs", self._who(), self.read_seconds)
        self.transport.close()

    def _refuse_head(self) -> None:
        if self.transport.is_closing():
            return
        log.info("refused %s: a request head over %d bytes", self._who(), self.max_head_bytes)
        body = error_body(
            431, f"the request head is over {self.max_head_bytes} bytes", "BAD_USER_INPUT"
        )
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n"
            % len(body)
            + b"connection: close\r\n\r\n"
            + body
        )
        self.transport.close()

    def _who(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"


def allow(server: Server) -> type[BoundedRequests]:
    """The protocol for uvicorn's ``http``, bound by ``server``'s settings."""
    BoundedRequests.read_seconds = server.request_read_seconds
    BoundedRequests.max_head_bytes = server.max_request_head_bytes
    return BoundedRequests
