"""A client has a bounded time to send each request, head and body.

uvicorn's HTTP/1.1 protocol starts no clock until a response is sent: a connection that sends
nothing, or its request a byte at a time (a slowloris), is held open for as long as the client
likes, and enough of them exhaust the gateway's file descriptors. :class:`TimedRequests` is
that protocol (httptools) with one clock per request: from the connection's opening, or from
the first byte of the next request on a kept-alive one, to the request's last byte. A client
that takes longer than ``server.request_read_seconds`` is hung up on. Once the request is in,
the clock stops: answering takes what the request's deadline allows, and a websocket, once
upgraded, is no longer this protocol's.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Server

log = logging.getLogger(__name__)


class TimedRequests(HttpToolsProtocol):
    #: ``server.request_read_seconds``, set once per process, before serving, by :func:`allow`.
    read_seconds = Server.model_fields["request_read_seconds"].default

    _clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._clock is None:
            self._start()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._stop()

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
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("hung up on %s: no whole request within %gs", client, self.read_seconds)
        self.transport.close()


def allow(seconds: float) -> type[TimedRequests]:
    """The protocol for uvicorn's ``http``, each client given ``seconds`` per request."""
    TimedRequests.read_seconds = seconds
    return TimedRequests
