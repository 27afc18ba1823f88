"""uvicorn's HTTP/1.1 protocol (httptools), with the bounds it lacks against slow and idle clients.

uvicorn bounds the idle time between requests on a kept-alive connection (`timeout_keep_alive`) but not the
time a client takes to send a request's line and headers, nor the number of connections a worker holds: a
connection that sends nothing, or a header byte every few seconds, was held for as long as the client liked
(measured: 900 slow-header sockets all still open after 60 s, 8,000 half-open ones all held after 10 s).

Here, per connection: the request line and headers must be complete within `http_header_timeout_seconds` of
the connection opening, or, on a kept-alive connection, of the next request's first byte; otherwise the
connection is closed. Per worker: a connection beyond `http_max_connections` is closed as soon as it is
accepted. The body is bounded by the application as it reads it (gateway/refusals.py, `limited_receive`).
`serve` selects this class by its import path, so that every worker process loads it (and reads the settings)
itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.settings import Settings, load_settings

logger = logging.getLogger(__name__)

IMPORT_PATH = "gateway.http_protocol:BoundedHttpToolsProtocol"


@functools.cache
def _settings() -> Settings:
    return load_settings()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        settings = _settings()
        if len(self.connections) > settings.http_max_connections:
            logger.warning(
                "closed a connection from %s: %d open connections exceed DPOR_HTTP_MAX_CONNECTIONS (%d)",
                self.client[0] if self.client else "?",
                len(self.connections),
                settings.http_max_connections,
            )
            transport.close()
            return
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a kept-alive connection's next request: its headers start now
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(_settings().http_header_timeout_seconds, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            logger.info(
                "closed a connection from %s: no complete request headers within %s s",
                self.client[0] if self.client else "?",
                _settings().http_header_timeout_seconds,
            )
            self.transport.close()
