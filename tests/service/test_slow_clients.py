"""A real `serve` closes the connections of clients that send nothing, send their headers or body slowly, or
open more connections than a worker holds (gateway/http_protocol.py, gateway/refusals.py).

Measured before these bounds (uvicorn alone): 900 slow-header and slow-body sockets all still open after 60 s,
8,000 half-open unauthenticated requests all held after 10 s. The test runs with 1 s deadlines, so it takes a
few seconds; each socket's closing time is printed.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from pathlib import Path

from tests.serve_support import HOST, Served, exchange, serving

PER_KIND = 10
MAX_CONNECTIONS = 4 * PER_KIND
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
# Deadlines are timers on the worker's event loop; CI shares two cores with other work.
SLACK = 2.0


def opened(served: Served, count: int, first_bytes: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        connection = socket.create_connection((HOST, served.port), timeout=5)
        if first_bytes:
            connection.sendall(first_bytes)
        sockets.append(connection)
    return sockets


def seconds_until_closed(
    sockets: dict[str, list[socket.socket]], started: float, limit: float
) -> dict[str, list[float]]:
    """For every socket, when the server closed it (inf if it did not within `limit`); what it answered before
    closing is kept in ANSWERS."""
    selector = selectors.DefaultSelector()
    closed: dict[str, list[float]] = {kind: [] for kind in sockets}
    received: dict[int, bytes] = {}
    for kind, group in sockets.items():
        for connection in group:
            connection.setblocking(False)
            selector.register(connection, selectors.EVENT_READ, kind)
    while selector.get_map() and time.monotonic() - started < limit:
        for key, _events in selector.select(timeout=0.1):
            connection = key.fileobj
            assert isinstance(connection, socket.socket)
            try:
                data = connection.recv(65536)
            except ConnectionError:
                data = b""
            if data:
                received[connection.fileno()] = received.get(connection.fileno(), b"") + data
                continue
            closed[key.data].append(time.monotonic() - started)
            if connection.fileno() in received:
                ANSWERS.setdefault(key.data, []).append(received.pop(connection.fileno()))
            selector.unregister(connection)
            connection.close()
    for key in list(selector.get_map().values()):
        closed[key.data].append(float("inf"))
        key.fileobj.close()  # type: ignore[union-attr]
    return closed


ANSWERS: dict[str, list[bytes]] = {}


def test_slow_and_idle_connections_are_closed(tmp_path: Path) -> None:
    env = {
        "DPOR_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "DPOR_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "DPOR_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "DPOR_HTTP_MAX_HEADER_BYTES": "16384",
    }
    with serving(tmp_path, **env) as served:
        token = served.token()
        head = f"POST /graphql HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
        ANSWERS.clear()
        started = time.monotonic()
        sockets = {
            "silent": opened(served, PER_KIND, b""),
            "slow headers": opened(served, PER_KIND, f"POST /graphql HTTP/1.1\r\nHost: {HOST}\r\n".encode()),
            "slow body": opened(served, PER_KIND, f"{head}Authorization: Bearer {token}\r\n\r\n".encode() + b'{"q'),
            "unauthenticated slow body": opened(served, PER_KIND, f"{head}\r\n".encode() + b'{"q'),
        }
        closed = seconds_until_closed(sockets, started, limit=BODY_TIMEOUT + 1 + SLACK + 3)
        print({kind: f"{max(times):.2f} s" for kind, times in closed.items()})

        # Headers beyond DPOR_HTTP_MAX_HEADER_BYTES are refused as soon as they exceed it.
        started = time.monotonic()
        endless = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Padding: ".encode() + b"a" * 100_000
        oversized = seconds_until_closed({"oversized headers": opened(served, 3, endless)}, started, limit=SLACK)

        # Beyond the per-worker bound, a connection is closed as soon as it is accepted.
        held = opened(served, MAX_CONNECTIONS, b"")
        started = time.monotonic()
        extra = seconds_until_closed({"over the bound": opened(served, 5, b"")}, started, limit=SLACK)
        for connection in held:
            connection.close()

        # What the bounds must not touch: a large body sent at speed, and two requests on one kept-alive connection.
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        large = json.dumps({"query": "{ __typename }", "padding": "x" * 900_000}).encode()
        with socket.create_connection((HOST, served.port), timeout=10) as connection:
            statuses = [exchange(connection, "POST", "/graphql", large, headers)[0] for _ in range(2)]
        print({kind: f"{max(times):.2f} s" for kind, times in (extra | oversized).items()})

    assert statuses == [200, 200]
    assert max(closed["silent"]) < HEADER_TIMEOUT + SLACK
    assert max(closed["slow headers"]) < HEADER_TIMEOUT + SLACK
    assert min(closed["slow headers"]) >= HEADER_TIMEOUT * 0.9
    assert max(closed["slow body"]) < BODY_TIMEOUT + SLACK
    # A body the application was reading is answered 408 with a GraphQL error before the connection closes...
    assert len(ANSWERS["slow body"]) == PER_KIND
    assert all(answer.startswith(b"HTTP/1.1 408 ") and b'"code":"TIMEOUT"' in answer for answer in ANSWERS["slow body"])
    # ... and one it had already answered (401, no token) is cut off a second later.
    assert all(answer.startswith(b"HTTP/1.1 401 ") for answer in ANSWERS["unauthenticated slow body"])
    assert max(closed["unauthenticated slow body"]) < BODY_TIMEOUT + 1 + SLACK
    assert max(extra["over the bound"]) < SLACK / 2
    assert max(oversized["oversized headers"]) < SLACK / 2
    assert all(answer.startswith(b"HTTP/1.1 431 ") for answer in ANSWERS["oversized headers"])
