"""Redis configured (DPOR_REDIS_URL) but unreachable, against a real `serve` (gateway/websocket_handler.py): the
gateway fails closed where it needs the shared count, and keeps pushing what needs only the database.

- Unreachable from the start (a closed port): a new websocket's `connection_init` is refused with 1013 "Try again
  later" (the graphql-ws client retries it), and an HTTP operation with INTERNAL "The rate limiter is unavailable"
  (schema/extensions/rate_limit.py): neither is let through uncounted.
- Gone while a subscriber listens (Redis behind a loopback proxy that is closed, needs DPOR_TEST_REDIS_URL): the
  open stream is still told of a change (the change feed reads the database), a new connection is refused with
  1013 meanwhile, and once Redis is back a new connection is acknowledged again.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests import databases
from tests.resilience_support import TcpProxy
from tests.serve_support import HOST, Served, exchange, free_port, serving
from tests.service.test_subscriptions_ws import ASSOCIATION_CHANGES, World, next_event
from tests.service.test_websocket_limits import closed_with, opened

REDIS = os.environ.get("DPOR_TEST_REDIS_URL")
TRY_AGAIN_LATER = (1013, "Try again later: connection limits unavailable")
WAIT = 10.0


class ThreadedProxy:
    """tests.resilience_support.TcpProxy on an event loop of its own thread: it keeps forwarding while the test's
    own loop waits on a websocket, and while the synchronous helpers block it."""

    def __init__(self, host: str, port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="redis-proxy", daemon=True)
        self._thread.start()
        self.proxy = TcpProxy(host, port)

    def _run(self, method: str) -> None:
        asyncio.run_coroutine_threadsafe(getattr(self.proxy, method)(), self._loop).result(10)

    def up(self) -> None:
        self._run("up")

    def down(self) -> None:
        self._run("down")

    def stop(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def http_errors(served: Served) -> tuple[int, list[str], list[str]]:
    """A query's HTTP status, error codes and messages."""
    body = json.dumps({"query": "{ viewer { roles } }"}).encode()
    headers = {"authorization": f"Bearer {served.token()}", "content-type": "application/json"}
    with socket.create_connection((HOST, served.port), timeout=10) as connection:
        status, _headers, answer = exchange(connection, "POST", "/graphql", body, headers)
    errors = json.loads(answer).get("errors") or []
    return status, [error["extensions"]["code"] for error in errors], [error["message"] for error in errors]


@pytest.fixture(params=databases.backends())
def unreachable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """A gateway whose Redis is a closed port (nothing listens there)."""
    with (
        databases.migrated_database(request.param, tmp_path) as url,
        serving(
            tmp_path,
            DPOR_DATABASE_URL=url,
            DPOR_REDIS_URL=f"redis://{HOST}:{free_port()}/0",
            DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS="0",
        ) as served,
    ):
        yield served


async def test_with_redis_unreachable_new_connections_and_requests_are_refused_not_uncounted(
    unreachable: Served,
) -> None:
    async with opened(unreachable) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {unreachable.token()}"}}
        await ws.send(json.dumps(init))
        assert await closed_with(ws) == TRY_AGAIN_LATER
    status, codes, messages = await asyncio.to_thread(http_errors, unreachable)
    assert (status, codes, messages) == (200, ["INTERNAL"], ["The rate limiter is unavailable; retry shortly."])
    assert "refused websocket: the connection count is unavailable" in unreachable.log.read_text()


@dataclass
class Pair:
    proxy: ThreadedProxy
    counted: Served  # its Redis behind the proxy
    maker: Served  # no Redis: the changes are made through it


@pytest.fixture(params=databases.backends())
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    if REDIS is None:
        pytest.skip("needs a Redis to take away (DPOR_TEST_REDIS_URL)")
    redis = make_url(REDIS)
    proxy = ThreadedProxy(redis.host or HOST, redis.port or 6379)
    proxy.up()
    var = str(tmp_path / "var")  # one dev key for both processes
    for name in ("counted", "maker"):
        (tmp_path / name).mkdir()
    try:
        with (
            databases.migrated_database(request.param, tmp_path) as url,
            serving(
                tmp_path / "counted",
                DPOR_DATABASE_URL=url,
                DPOR_VAR_DIR=var,
                DPOR_REDIS_URL=f"redis://{HOST}:{proxy.proxy.port}/{redis.database or 0}",
                DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS="0",
            ) as counted,
            # Another process on the same database, with no Redis at all: the counted one refuses HTTP
            # operations while its Redis is away (the test above).
            serving(
                tmp_path / "maker",
                DPOR_DATABASE_URL=url,
                DPOR_VAR_DIR=var,
                DPOR_RATE_LIMIT_PER_PROCESS="true",
                DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS="0",
            ) as maker,
        ):
            yield Pair(proxy, counted, maker)
    finally:
        proxy.stop()


async def test_when_redis_goes_away_open_streams_are_still_told_and_new_connections_wait(pair: Pair) -> None:
    world = await asyncio.to_thread(World, pair.maker)
    async with opened(pair.counted, world.owner("A")) as ws:
        message = {"id": "1", "type": "subscribe", "payload": {"query": ASSOCIATION_CHANGES}}
        await ws.send(json.dumps(message))
        await asyncio.sleep(1.0)  # the stream joined the counted process's feed

        pair.proxy.down()
        await asyncio.to_thread(world.set_dpor, "A", "P")
        event = await next_event(ws)
        assert (event["type"], event["tenantId"]) == ("association.dpor_set", world.tenants["A"][0])

        async with opened(pair.counted) as refused:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {world.owner('A')}"}}
            await refused.send(json.dumps(init))
            assert await closed_with(refused) == TRY_AGAIN_LATER

        pair.proxy.up()
        async with opened(pair.counted, world.owner("B")):  # acknowledged: counted in Redis again
            pass
        # The open stream lived through it all.
        await asyncio.to_thread(world.set_dpor, "A", "Q")
        assert (await next_event(ws))["type"] == "association.dpor_replaced"
