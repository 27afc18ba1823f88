"""GraphQL subscriptions over a real websocket (graphql-transport-ws) against `dpor-gateway serve --workers 2`
(issue 15): a DPOR change made through one worker is pushed to a subscriber held by the other; another tenant's
changes never arrive; a partner's copy carries no personal data; a bad token is refused and an expiring one ends
the socket, both with 4403."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from db import migrations
from db.engine import Database
from gateway.wiring import auth_config
from tests import databases, factories
from tests.serve_support import HOST, Served, exchange, serving, serving_pid

PROTOCOL = "graphql-transport-ws"
ASSOCIATION_CHANGES = """subscription ($tenantId: ID) {
  associationChanges(tenantId: $tenantId) { sequence eventId type tenantId subscriptionId payload }
}"""
ONE_SUBSCRIPTIONS_CHANGES = """subscription ($subscriptionId: ID) {
  associationChanges(subscriptionId: $subscriptionId) { sequence type subscriptionId }
}"""
ATTRIBUTION_CHANGES = "subscription { attributionChanges { sequence eventId type tenantId subscriptionId payload } }"
# Long enough for the change feed's poll (0.2 s by default) on a loaded machine, short enough for a test.
WAIT = 10.0
MAX_ATTEMPTS = 200


def graphql(served: Served, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    with socket.create_connection((HOST, served.port), timeout=10) as connection:
        status, _headers, answer = exchange(connection, "POST", "/graphql", body, headers)
    result: dict[str, Any] = json.loads(answer)
    assert status == 200 and not result.get("errors"), result
    return result["data"]


def graphql_off_worker(served: Served, pid: int, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """`query` answered by a worker other than `pid`: connections are opened (and probed) until another holds one."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    probe = json.dumps({"query": "{ __typename }"}).encode()
    for _ in range(MAX_ATTEMPTS):
        with socket.create_connection((HOST, served.port), timeout=10) as connection:
            status, _headers, _answer = exchange(connection, "POST", "/graphql", probe, headers)
            assert status == 200
            if serving_pid(served, connection) == pid:
                continue
            body = json.dumps({"query": query, "variables": variables}).encode()
            status, _headers, answer = exchange(connection, "POST", "/graphql", body, headers)
            result: dict[str, Any] = json.loads(answer)
            assert status == 200 and not result.get("errors"), result
            return result["data"]
    raise AssertionError(f"worker {pid} answered all of {MAX_ATTEMPTS} connections")


class World:
    def __init__(self, served: Served) -> None:
        self.served = served
        self.config = auth_config(served.settings)
        admin = served.token()
        self.tenants: dict[str, tuple[str, str]] = {}  # name -> (global id, external id)
        self.subscriptions: dict[str, str] = {}
        self.partners: dict[str, tuple[str, str]] = {}  # name -> (global id, MPN id)
        self.dpor: dict[str, str] = {}  # tenant -> its DPOR's partner name, as the tests set it
        for name in ("A", "B"):
            external = str(uuid.uuid4())
            tenant = graphql(
                served,
                admin,
                "mutation ($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
                {
                    "i": {
                        "externalId": external,
                        "displayName": f"Tenant {name}",
                        "primaryDomain": f"{name.lower()}.example.com",
                        "countryCode": "US",
                    }
                },
            )["createTenant"]["tenant"]["id"]
            self.tenants[name] = (tenant, external)
            self.subscriptions[name] = graphql(
                served,
                admin,
                "mutation ($i: CreateSubscriptionInput!) { createSubscription(input: $i) { subscription { id } } }",
                {"i": {"tenantId": tenant, "externalId": f"sub-{name}", "offer": "AZURE", "displayName": name}},
            )["createSubscription"]["subscription"]["id"]
        for name, mpn in (("P", "1000001"), ("Q", "1000002")):
            partner = graphql(
                served,
                admin,
                "mutation ($i: CreatePartnerInput!) { createPartner(input: $i) { partner { id } } }",
                {"i": {"mpnId": mpn, "name": f"Partner {name}", "countryCode": "US"}},
            )["createPartner"]["partner"]["id"]
            self.partners[name] = (partner, mpn)

    def owner(self, tenant: str, **token: Any) -> str:
        return mint_dev_token(
            self.config, roles=[Role.OWNER], tenant=self.tenants[tenant][1], subject=f"owner-{tenant}", **token
        )

    def partner(self, name: str) -> str:
        return mint_dev_token(self.config, roles=[Role.PARTNER], partner=self.partners[name][1], subject=f"p-{name}")

    def another_partner(self, tenant: str) -> str:
        """A partner that is not the tenant's DPOR now: setting it is a change (and an event)."""
        return "Q" if self.dpor.get(tenant) == "P" else "P"

    def set_dpor(self, tenant: str, partner: str, *, off_worker: int | None = None) -> None:
        subscription = self.subscriptions[tenant]
        token = self.owner(tenant)
        version = graphql(
            self.served, token, "query ($id: ID!) { subscription(id: $id) { version } }", {"id": subscription}
        )["subscription"]["version"]
        mutation = """mutation ($i: SetDigitalPartnerOfRecordInput!) {
          setDigitalPartnerOfRecord(input: $i) { subscription { id } }
        }"""
        variables = {
            "i": {"subscriptionId": subscription, "partnerId": self.partners[partner][0], "expectedVersion": version}
        }
        if off_worker is None:
            graphql(self.served, token, mutation, variables)
        else:
            graphql_off_worker(self.served, off_worker, token, mutation, variables)
        self.dpor[tenant] = partner


@pytest.fixture(scope="module", params=databases.backends())
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("subscriptions")
    url = databases.sqlite_url(tmp_path) if request.param == "sqlite" else databases.create_postgres_database()
    try:
        migrations.upgrade(url)
        # No webhook worker: the change feed alone publishes, so what is measured is the subscription path.
        with serving(
            tmp_path,
            "--workers",
            "2",
            DPOR_DATABASE_URL=url,
            DPOR_RATE_LIMIT_PER_PROCESS="true",
            DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS="0",
            DPOR_OAUTH_CLOCK_SKEW_SECONDS="0",
        ) as served:
            assert len(served.workers()) >= 2
            yield served
    finally:
        if request.param != "sqlite":
            databases.drop_postgres_database(url)


@pytest.fixture(scope="module")
def world(served: Served) -> World:
    return World(served)


@asynccontextmanager
async def subscribed(
    served: Served, token: str, query: str, variables: dict[str, Any] | None = None
) -> AsyncIterator[ClientConnection]:
    async with connect(f"ws://{HOST}:{served.port}/graphql", subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "connection_ack"}
        message = {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        await ws.send(json.dumps(message))
        # The subscriber is registered with its worker's feed once its first (empty) poll is made; a change made
        # before then is not told (a stream tells what happens from its start on).
        await asyncio.sleep(1.0)
        yield ws


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert message["type"] == "next", message
    event: dict[str, Any] = next(iter(message["payload"]["data"].values()))
    assert "errors" not in message["payload"], message
    return event


async def nothing_arrives(ws: ClientConnection, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        message = await asyncio.wait_for(ws.recv(), seconds)
        raise AssertionError(f"unexpected {message}")


def worker_of(served: Served, ws: ClientConnection) -> int:
    return serving_pid(served, ws.transport.get_extra_info("socket"))


async def test_a_change_through_one_worker_reaches_a_subscriber_on_the_other(served: Served, world: World) -> None:
    async with subscribed(served, world.owner("A"), ASSOCIATION_CHANGES) as ws:
        held_by = worker_of(served, ws)
        started = time.monotonic()
        await asyncio.to_thread(world.set_dpor, "A", world.another_partner("A"), off_worker=held_by)
        event = await next_event(ws)
        latency = time.monotonic() - started
    assert event["type"] in ("association.dpor_set", "association.dpor_replaced")
    assert event["tenantId"] == world.tenants["A"][0]
    assert event["subscriptionId"] == world.subscriptions["A"]
    # The tenant's copy is its audit log's: the actor's subject is there.
    assert event["payload"]["actor"]["subject"] == "owner-A"
    assert latency < 5.0, latency


async def test_another_tenants_changes_never_arrive(served: Served, world: World) -> None:
    async with subscribed(served, world.owner("A"), ASSOCIATION_CHANGES) as ws:
        await asyncio.to_thread(world.set_dpor, "B", world.another_partner("B"))
        await asyncio.to_thread(world.set_dpor, "A", world.another_partner("A"))
        # The first event told is A's, made after B's: B's was published first and skipped.
        event = await next_event(ws)
        assert event["tenantId"] == world.tenants["A"][0]
        await nothing_arrives(ws, 1.5)


async def test_a_tenant_outside_the_callers_reach_is_not_found(served: Served, world: World) -> None:
    async with subscribed(served, world.owner("A"), ASSOCIATION_CHANGES, {"tenantId": world.tenants["B"][0]}) as ws:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    # Refused when the stream starts: one result carrying the error (as a query's), then the end of the stream.
    assert message["type"] == "next" and message["payload"]["data"] is None, message
    assert [error["extensions"]["code"] for error in message["payload"]["errors"]] == ["NOT_FOUND"]


async def test_a_subscription_id_narrows_the_stream_and_one_outside_the_reach_is_not_found(
    served: Served, world: World
) -> None:
    variables = {"subscriptionId": world.subscriptions["A"]}
    async with subscribed(served, served.token(), ONE_SUBSCRIPTIONS_CHANGES, variables) as ws:  # reads every tenant
        await asyncio.to_thread(world.set_dpor, "B", world.another_partner("B"))
        await asyncio.to_thread(world.set_dpor, "A", world.another_partner("A"))
        assert (await next_event(ws))["subscriptionId"] == world.subscriptions["A"]  # B's was skipped
        await nothing_arrives(ws, 1.0)
    foreign = {"subscriptionId": world.subscriptions["B"]}
    async with subscribed(served, world.owner("A"), ONE_SUBSCRIPTIONS_CHANGES, foreign) as ws:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert [error["extensions"]["code"] for error in message["payload"]["errors"]] == ["NOT_FOUND"], message


async def test_a_partner_is_told_its_own_copy_without_personal_data(served: Served, world: World) -> None:
    if world.dpor.get("B") != "Q":
        await asyncio.to_thread(world.set_dpor, "B", "Q")  # before the stream starts: not told
    async with subscribed(served, world.partner("P"), ATTRIBUTION_CHANGES) as ws:
        await asyncio.to_thread(world.set_dpor, "B", "P")  # P replaces Q: both partners concerned
        event = await next_event(ws)
        await asyncio.to_thread(world.set_dpor, "B", "Q")  # Q replaces P: both partners concerned
        second = await next_event(ws)
    assert event["type"] == second["type"] == "association.dpor_replaced"
    for told in (event, second):
        text = json.dumps(told)
        assert told["payload"]["partnerId"] == world.partners["P"][0]
        assert "subject" not in told["payload"]["actor"], told
        for personal in ("owner-A", "owner-B", "a.example.com", "b.example.com", "Tenant A", "Tenant B"):
            assert personal not in text, (personal, told)
        # Partner Q's association row is not in P's copy.
        assert world.partners["Q"][0] not in text, told


async def test_a_bad_token_is_refused_with_4403(served: Served) -> None:
    async with connect(f"ws://{HOST}:{served.port}/graphql", subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_the_socket_closes_with_4403_when_the_token_expires(served: Served, world: World) -> None:
    expiring = world.owner("A", ttl=3)
    async with subscribed(served, expiring, ASSOCIATION_CHANGES) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_sequences_past_graphql_int_arrive_exactly(served: Served, world: World) -> None:
    database = Database.from_url(served.settings.database_url, pool_size=1)
    try:
        async with database.write() as session:
            await factories.sequence_after(session, 2**40)
    finally:
        await database.dispose()
    async with subscribed(served, world.owner("A"), ASSOCIATION_CHANGES) as ws:
        await asyncio.to_thread(world.set_dpor, "A", world.another_partner("A"))
        event = await next_event(ws)
    # A BigInt, a decimal string: GraphQL's Int would have refused to answer it; the payload's is a JSON number.
    assert isinstance(event["sequence"], str) and int(event["sequence"]) > 2**40, event
    assert event["payload"]["sequence"] == int(event["sequence"])


@pytest.mark.parametrize(
    "operation",
    [
        "query { viewer { roles } }",
        'mutation { createPartner(input: {mpnId: "9999001", name: "Smuggled", countryCode: "US"}) { partner { id } } }',
    ],
)
async def test_queries_and_mutations_are_refused_over_the_socket(served: Served, world: World, operation: str) -> None:
    # As the platform admin, who may run both over HTTP.
    async with subscribed(served, served.token(), operation) as ws:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    # Refused before anything runs (the protocol's `error` message): they go over HTTP, where the view does for
    # them what the socket would skip.
    assert message["type"] == "error", message
    assert [error["extensions"]["code"] for error in message["payload"]] == ["METHOD_NOT_ALLOWED"]
    found = graphql(served, served.token(), 'query { partners(search: "Smuggled") { edges { node { id } } } }')
    assert found["partners"]["edges"] == []
