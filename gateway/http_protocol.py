"""uvicorn's HTTP/1.1 protocol (httptools), with the bounds it lacks against slow and idle clients.

uvicorn bounds the idle time between requests on a kept-alive connection (`timeout_keep_alive`) but not the
time a client takes to send a request, nor the number of connections a worker holds: a connection that sent
nothing, or a header byte every few seconds, or a body that never ended after the application had answered
(a 401 for a missing token), was held for as long as the client liked (measured before: 900 slow-header and
slow-body sockets all still open after 60 s, 8,000 half-open unauthenticated requests all held after 10 s).

Here, per connection, a deadline for each part of a request:
- the request line and headers within `http_header_timeout_seconds` of the connection opening or, on a
  kept-alive connection, of the next request's first byte;
- the body within `http_body_timeout_seconds` of the headers. The application enforces the same bound while it
  reads the body, answering 408 (gateway/refusals.py, `limited_receive`); this one, a second later, closes
  the connection of a request whose body nobody reads any more.
A deadline missed closes the connection. The request line and headers may also take at most
`http_max_header_bytes` (httptools, unlike h11, sets no bound: a client could send one endless header for as
long as the deadline lasts); beyond, 431 and the connection is closed. Per worker: a connection beyond
`http_max_connections` is closed as soon as it is accepted. `serve` selects this class by its import path, so
that every worker process loads it (and reads the settings) itself.

Each response's status line and headers go out with its body, in one write: uvicorn writes them in two calls,
each a send() on the socket, and on this host the response's two writes were 17% of a worker's CPU under load
for read (3) (py-spy, bench/results/2026-12-07-fast-lane-cpu.md). The bytes sent are the same.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import cast

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.settings import Settings, load_settings
from resolvers.codes import Code

logger = logging.getLogger(__name__)

IMPORT_PATH = "gateway.http_protocol:BoundedHttpToolsProtocol"
# The application answers a slow body with 408 at the body deadline; the connection is closed this much later.
BODY_GRACE_SECONDS = 1.0
_HEADERS_TOO_LARGE = orjson.dumps(
    {"errors": [{"message": "Request headers too large.", "extensions": {"code": Code.REQUEST_TOO_LARGE.value}}]}
)


@functools.cache
def _settings() -> Settings:
    return load_settings()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _deadline: asyncio.TimerHandle | None = None
    # What the deadline waits for: "request headers", "request body", or "" when none is armed.
    _deadline_part = ""
    # Bytes received while a request's line and headers were incomplete, and how many requests' headers completed.
    _header_bytes = 0
    _headers_completed = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        settings = _settings()
        if len(self.connections) > settings.http_max_connections:
            logger.warning(
                "closed a connection from %s at once: %d open connections exceed DPOR_HTTP_MAX_CONNECTIONS (%d)",
                self._peer(),
                len(self.connections),
                settings.http_max_connections,
            )
            transport.close()
            return
        self._arm(settings.http_header_timeout_seconds, "request headers")

    def data_received(self, data: bytes) -> None:
        reading_headers = self._deadline_part == "request headers"
        completed = self._headers_completed
        super().data_received(data)
        # Counted only for a chunk that began and ended inside the headers of one request: a chunk that completes
        # them also carries the body (or the next request), which is not held against them.
        if not reading_headers or completed != self._headers_completed or self.transport.is_closing():
            return
        self._header_bytes += len(data)
        limit = _settings().http_max_header_bytes
        if self._header_bytes > limit:
            logger.info("refused a request from %s: headers longer than %d bytes", self._peer(), limit)
            self._send_431()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._deadline is None:  # a kept-alive connection's next request: its headers start now
            self._arm(_settings().http_header_timeout_seconds, "request headers")

    def on_headers_complete(self) -> None:
        self._headers_completed += 1
        upgrading = self.parser.should_upgrade() and self._should_upgrade()
        before = self.cycle
        super().on_headers_complete()
        if upgrading:  # the connection becomes a WebSocket, with a protocol (and timeouts) of its own
            self._disarm()
        else:
            self._arm(_settings().http_body_timeout_seconds + BODY_GRACE_SECONDS, "request body")
        if self.cycle is not None and self.cycle is not before:  # this request's cycle, which writes its response
            self.cycle.transport = cast(asyncio.Transport, HeadWithBody(self.transport, self.loop))

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, seconds, part)
        self._deadline_part = part

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._deadline_part = ""

    def _too_slow(self, seconds: float, part: str) -> None:
        self._deadline = None
        self._deadline_part = ""
        if not self.transport.is_closing():
            logger.info("closed a connection from %s: the %s did not arrive within %g s", self._peer(), part, seconds)
            self.transport.close()

    def _send_431(self) -> None:
        self._disarm()
        body = _HEADERS_TOO_LARGE
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"


class HeadWithBody:
    """One response's transport, as its request cycle sees it: the first write (the status line and headers) is held
    until the next (the body) and both go out in one write. Held at most until the loop's next turn (a response
    whose body comes later, or a HEAD's, which has none), and written before the transport closes; everything
    else is the connection's transport itself."""

    __slots__ = ("_first", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._first = True

    def write(self, data: bytes) -> None:
        if self._first:
            self._first = False
            self._held = data
            self._loop.call_soon(self._flush)
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)
