"""The README's recipe for several gateway processes behind a load balancer (README, "Several gateway processes"):
two `dpor-gateway serve` processes on two ports, sharing one PostgreSQL database and one Redis. A caller's rate
limit budget spent through one is spent for the other, its websocket count is shared, and a change made through
one is pushed to a subscriber of the other (the trigger's NOTIFY reaches every process's LISTEN connection).

Needs PostgreSQL and Redis (DPOR_TEST_POSTGRES_URL and DPOR_TEST_REDIS_URL; CI sets both)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from db import migrations
from gateway.wiring import auth_config
from tests import databases
from tests.serve_support import HOST, Served, exchange, serving
from tests.service.test_subscriptions_ws import ASSOCIATION_CHANGES, PROTOCOL, graphql

REDIS = os.environ.get("DPOR_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    REDIS is None or databases.POSTGRES_URL_VARIABLE not in os.environ,
    reason="the recipe needs PostgreSQL and Redis (DPOR_TEST_POSTGRES_URL, DPOR_TEST_REDIS_URL)",
)
POINTS = 20
WAIT = 10.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Served]]:
    url = databases.create_postgres_database()
    try:
        migrations.upgrade(url)
        shared = {
            "DPOR_DATABASE_URL": url,
            "DPOR_REDIS_URL": str(REDIS),
            "DPOR_RATE_LIMIT_POINTS": str(POINTS),
            "DPOR_MAX_COST": str(POINTS),
            "DPOR_MAX_WEBSOCKETS_PER_CALLER": "1",
            "DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS": "0",
        }
        var = tmp_path_factory.mktemp("pair-var")  # one dev key for both, as one issuer signs for every process
        with ExitStack() as stack:
            served = [
                stack.enter_context(serving(tmp_path_factory.mktemp(name), DPOR_VAR_DIR=str(var), **shared))
                for name in ("one", "two")
            ]
            yield served[0], served[1]
    finally:
        databases.drop_postgres_database(url)


def mint(served: Served, role: Role = Role.PLATFORM_ADMIN, **claims: Any) -> str:
    """A token of a caller of its own (a budget of its own)."""
    return mint_dev_token(auth_config(served.settings), roles=[role], subject=f"pair-{uuid.uuid4().hex[:8]}", **claims)


def status_of(served: Served, token: str, query: str) -> int:
    body = json.dumps({"query": query}).encode()
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    with socket.create_connection((HOST, served.port), timeout=10) as connection:
        status, _headers, _answer = exchange(connection, "POST", "/graphql", body, headers)
    return status


def test_a_budget_spent_through_one_process_is_spent_for_the_other(pair: tuple[Served, Served]) -> None:
    one, two = pair
    caller = mint(one)
    spent = 0
    while status_of(one, caller, "{ viewer { roles } }") == 200:
        spent += 1
        assert spent <= POINTS, "the budget never ran out"
    assert spent >= 1
    assert status_of(two, caller, "{ viewer { roles } }") == 429
    assert status_of(two, mint(two), "{ viewer { roles } }") == 200  # another caller's budget is its own


async def test_a_change_made_through_one_process_is_pushed_by_the_other(pair: tuple[Served, Served]) -> None:
    one, two = pair
    external = str(uuid.uuid4())

    def setup() -> tuple[str, str, str]:
        tenant = graphql(
            one,
            mint(one),
            "mutation ($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
            {
                "i": {
                    "externalId": external,
                    "displayName": "Pair",
                    "primaryDomain": "pair.example",
                    "countryCode": "US",
                }
            },
        )["createTenant"]["tenant"]["id"]
        subscription = graphql(
            one,
            mint(one),
            "mutation ($i: CreateSubscriptionInput!) { createSubscription(input: $i) { subscription { id } } }",
            {"i": {"tenantId": tenant, "externalId": "pair-sub", "offer": "AZURE", "displayName": "S"}},
        )["createSubscription"]["subscription"]["id"]
        partner = graphql(
            one,
            mint(one),
            "mutation ($i: CreatePartnerInput!) { createPartner(input: $i) { partner { id } } }",
            {"i": {"mpnId": "3000001", "name": "Pair partner", "countryCode": "US"}},
        )["createPartner"]["partner"]["id"]
        return tenant, subscription, partner

    tenant, subscription, partner = await asyncio.to_thread(setup)
    owner = mint(one, Role.OWNER, tenant=external)
    async with connect(f"ws://{HOST}:{two.port}/graphql", subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {owner}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "connection_ack"}
        message = {"id": "1", "type": "subscribe", "payload": {"query": ASSOCIATION_CHANGES}}
        await ws.send(json.dumps(message))
        await asyncio.sleep(1.0)  # the stream joined process two's feed

        # The owner's one websocket is held through process two: one more, through process one, is refused.
        async with connect(f"ws://{HOST}:{one.port}/graphql", subprotocols=[PROTOCOL]) as second:  # type: ignore[list-item]
            await second.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {owner}"}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(second.recv(), WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429

        mutation = """mutation ($i: SetDigitalPartnerOfRecordInput!) {
          setDigitalPartnerOfRecord(input: $i) { changed } }"""
        variables = {"i": {"subscriptionId": subscription, "partnerId": partner, "expectedVersion": 1}}
        started = time.monotonic()
        await asyncio.to_thread(graphql, one, owner, mutation, variables)
        pushed = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        latency = time.monotonic() - started
    event = pushed["payload"]["data"]["associationChanges"]
    assert (event["type"], event["tenantId"]) == ("association.dpor_set", tenant)
    assert latency < 5.0, latency
