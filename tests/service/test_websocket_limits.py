"""The websocket's limits against a real `serve` (gateway/websocket_handler.py, gateway/websocket_limits.py): no
`connection_init` in time (4408), no subscription for the idle timeout (4408 "Idle timeout"), more connections per
caller than allowed (4429; counted in Redis across two workers when the tests have Redis, else in the one
worker), more subscriptions on one connection than allowed (an `error` message, the socket stays), and a delegated
admin's stream closed (4403) when its relationship ends or expires mid-stream.

One server per backend for the module, with short timeouts (init 1 s, idle 2 s, 2 connections per caller, 2
subscriptions per connection)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from db import migrations
from gateway.wiring import auth_config
from tests import databases
from tests.serve_support import HOST, Served, serving
from tests.service.test_subscriptions_ws import ASSOCIATION_CHANGES, PROTOCOL, graphql

WAIT = 10.0
LIMIT = 2
SUBSCRIPTIONS = 2


@pytest.fixture(scope="module", params=databases.backends())
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("websocket-limits")
    url = databases.sqlite_url(tmp_path) if request.param == "sqlite" else databases.create_postgres_database()
    redis_url = os.environ.get("DPOR_TEST_REDIS_URL") if request.param != "sqlite" else None
    shared = {"DPOR_REDIS_URL": redis_url} if redis_url else {"DPOR_RATE_LIMIT_PER_PROCESS": "true"}
    try:
        migrations.upgrade(url)
        with serving(
            tmp_path,
            # With Redis the count is every worker's: two workers show it.
            "--workers",
            "2" if redis_url else "1",
            DPOR_DATABASE_URL=url,
            DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS="0",
            DPOR_SUBSCRIPTION_INIT_TIMEOUT_SECONDS="1",
            DPOR_WEBSOCKET_IDLE_TIMEOUT_SECONDS="2",
            DPOR_MAX_WEBSOCKETS_PER_CALLER=str(LIMIT),
            DPOR_MAX_SUBSCRIPTIONS_PER_CONNECTION=str(SUBSCRIPTIONS),
            **shared,
        ) as served:
            yield served
    finally:
        if request.param != "sqlite":
            databases.drop_postgres_database(url)


def token(served: Served, role: Role = Role.PLATFORM_ADMIN, **claims: Any) -> str:
    claims.setdefault("subject", f"ws-{uuid.uuid4().hex[:8]}")
    return mint_dev_token(auth_config(served.settings), roles=[role], **claims)


@asynccontextmanager
async def opened(served: Served, bearer: str | None = None) -> AsyncIterator[ClientConnection]:
    """A websocket, initialised with `bearer` (and acknowledged) when given."""
    async with connect(f"ws://{HOST}:{served.port}/graphql", subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        if bearer is not None:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {bearer}"}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "connection_ack"}
        yield ws


async def closed_with(ws: ClientConnection, seconds: float = WAIT) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None, closed.value
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_no_connection_init_in_time_closes_with_4408(served: Served) -> None:
    async with opened(served) as ws:
        code, _reason = await closed_with(ws, 5)
    assert code == 4408


async def test_a_connection_without_subscriptions_is_closed_when_idle(served: Served) -> None:
    async with opened(served, token(served)) as ws:
        loop = asyncio.get_running_loop()
        started = loop.time()
        code, reason = await closed_with(ws)
    assert (code, reason) == (4408, "Idle timeout: no subscription")
    assert 1.5 < loop.time() - started < 6


async def test_a_connection_with_a_subscription_is_never_idle(served: Served) -> None:
    async with opened(served, token(served)) as ws:
        message = {"id": "1", "type": "subscribe", "payload": {"query": ASSOCIATION_CHANGES}}
        await ws.send(json.dumps(message))
        with pytest.raises(TimeoutError):  # twice the idle timeout, open
            await asyncio.wait_for(ws.recv(), 3)
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        loop = asyncio.get_running_loop()
        ended = loop.time()
        code, _reason = await closed_with(ws)
    assert code == 4408 and loop.time() - ended > 1.5


async def test_one_connection_more_than_a_caller_may_hold_is_closed_with_4429(served: Served) -> None:
    caller = token(served)
    async with opened(served, caller), opened(served, caller):
        async with opened(served) as third:
            await third.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {caller}"}}))
            code, reason = await closed_with(third)
        assert (code, reason) == (4429, "Too many connections for this caller")
        async with opened(served, token(served)):  # another caller is not counted with it
            pass
    # Closed connections gave their places back: the server does so as it ends them, just after the close
    # handshake the client waited for, so a reconnection at once may still find them held for a moment.
    async with asyncio.timeout(WAIT):
        while True:
            try:
                async with opened(served, caller), opened(served, caller):
                    break
            except ConnectionClosed as refused:
                assert refused.rcvd is not None and refused.rcvd.code == 4429, refused
                await asyncio.sleep(0.05)


async def test_one_subscription_more_than_a_connection_may_hold_is_an_error_and_the_socket_stays(
    served: Served,
) -> None:
    async with opened(served, token(served)) as ws:
        for number in range(1, SUBSCRIPTIONS + 2):
            message = {"id": str(number), "type": "subscribe", "payload": {"query": ASSOCIATION_CHANGES}}
            await ws.send(json.dumps(message))
        refused = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert refused["type"] == "error" and refused["id"] == str(SUBSCRIPTIONS + 1), refused
        assert [error["message"] for error in refused["payload"]] == ["Subscription limit reached"]
        # The socket stays, and a place freed is a place to take again.
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await asyncio.sleep(0.2)
        again = {"id": "again", "type": "subscribe", "payload": {"query": ASSOCIATION_CHANGES}}
        await ws.send(json.dumps(again))
        with pytest.raises(TimeoutError):  # running: no error, no end
            message = await asyncio.wait_for(ws.recv(), 1.0)
            raise AssertionError(f"unexpected {message}")


class Delegation:
    def __init__(self, served: Served, *, expires_in: int | None = None) -> None:
        admin = served.token()
        external = str(uuid.uuid4())
        self.tenant = graphql(
            served,
            admin,
            "mutation ($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
            {
                "i": {
                    "externalId": external,
                    "displayName": "Delegating",
                    "primaryDomain": f"d{external[:8]}.example.com",
                    "countryCode": "US",
                }
            },
        )["createTenant"]["tenant"]["id"]
        mpn = str(2_000_000 + uuid.uuid4().int % 1_000_000)
        partner = graphql(
            served,
            admin,
            "mutation ($i: CreatePartnerInput!) { createPartner(input: $i) { partner { id } } }",
            {"i": {"mpnId": mpn, "name": f"Delegate {mpn}", "countryCode": "US"}},
        )["createPartner"]["partner"]["id"]
        expires = None
        if expires_in is not None:
            expires = (datetime.now(UTC) + timedelta(seconds=expires_in)).replace(microsecond=0).isoformat()
        self.relationship = graphql(
            served,
            admin,
            "mutation ($i: CreateDelegatedAdminRelationshipInput!) {"
            " createDelegatedAdminRelationship(input: $i) { relationship { id } } }",
            {"i": {"tenantId": self.tenant, "partnerId": partner, "expiresAt": expires}},
        )["createDelegatedAdminRelationship"]["relationship"]["id"]
        self.token = token(served, Role.DELEGATED_ADMIN, tenant=external, partner=mpn)

    def end(self, served: Served) -> None:
        graphql(
            served,
            served.token(),
            "mutation ($i: EndDelegatedAdminRelationshipInput!) {"
            " endDelegatedAdminRelationship(input: $i) { relationship { status } } }",
            {"i": {"relationshipId": self.relationship}},
        )


async def subscribe_and_wait(ws: ClientConnection) -> None:
    message = {"id": "1", "type": "subscribe", "payload": {"query": ASSOCIATION_CHANGES}}
    await ws.send(json.dumps(message))
    # The stream joins its worker's feed after its checks. The relationship's creation may still be told: it
    # committed before, but the feed publishes what is unpublished when it starts polling.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            while True:
                message = json.loads(await ws.recv())
                assert message["payload"]["data"]["associationChanges"]["type"] == "delegation.created", message


async def test_a_delegated_admins_stream_closes_with_4403_when_its_relationship_ends(served: Served) -> None:
    delegation = await asyncio.to_thread(Delegation, served)
    async with opened(served, delegation.token) as ws:
        await subscribe_and_wait(ws)
        await asyncio.to_thread(delegation.end, served)
        told: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    told.append(json.loads(await ws.recv()))
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Delegated admin relationship ended")
    # The end itself was within its reach when it happened: told, then closed.
    assert [m["payload"]["data"]["associationChanges"]["type"] for m in told] == ["delegation.ended"]


async def test_a_delegated_admins_stream_closes_with_4403_when_its_relationship_expires(served: Served) -> None:
    delegation = await asyncio.to_thread(Delegation, served, expires_in=3)
    async with opened(served, delegation.token) as ws:
        await subscribe_and_wait(ws)
        code, reason = await closed_with(ws)
    assert (code, reason) == (4403, "Delegated admin relationship expired")
