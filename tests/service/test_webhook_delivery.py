"""Webhook delivery end to end (resolvers/webhooks/): changes made over HTTP, delivered by the worker to a real
receiver on loopback, each request verified with the reference `standardwebhooks` library.

The fault test runs `dpor-gateway deliver` as a real process, kills it (SIGKILL) while requests are in flight and
keeps the receiver failing for a while: after recovery every event is delivered, retries carry the same webhook-id
and body, and each endpoint receives its events in sequence order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from standardwebhooks import Webhook

from auth.principal import Role
from db.change_event import ChangeEvent
from db.engine import Database
from db.webhook import DeliveryStatus, WebhookDelivery
from gateway.app import create_app
from gateway.deliverer import deliver_every, sender_for
from resolvers.webhooks.delivery import DeliveryConfig, deliver_once
from schema import global_id
from tests import factories
from tests.api import Api, api_for, principal
from tests.serve_support import REPO
from tests.webhook_receiver import Received, Receiver, receiving

CREATE = """mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { secret endpoint { id } } }"""
SET = "mutation($i: SetDigitalPartnerOfRecordInput!) { setDigitalPartnerOfRecord(input: $i) { changed } }"
REMOVE = "mutation($i: RemoveDigitalPartnerOfRecordInput!) { removeDigitalPartnerOfRecord(input: $i) { changed } }"
DELIVERIES = """query($e: ID!) { webhookDeliveries(endpointId: $e, first: 20) {
  edges { node { id eventId eventType sequence status attempts responseStatusCode latencyMs lastError } } } }"""
REDELIVER = "mutation($i: RedeliverWebhookInput!) { redeliverWebhook(input: $i) { delivery { status attempts } } }"
DPOR_TYPES = ["association.dpor_set", "association.dpor_replaced", "association.dpor_removed"]
OWNER_SUBJECT = "alice@contoso.example"
FAST = DeliveryConfig(retry_schedule=(0.05, 0.05), timeout_seconds=2, allow_private=True, lease_seconds=5)


class World:
    def __init__(self, tenant: Any, subs: list[Any], partners: list[Any]) -> None:
        self.tenant, self.subs, self.partners = tenant, subs, partners
        self.owner = principal(Role.OWNER, tenant=tenant.external_id, subject=OWNER_SUBJECT)
        self.versions = {sub.id: 1 for sub in subs}

    def partner_caller(self, index: int) -> Any:
        return principal(Role.PARTNER, partner=self.partners[index].mpn_id, subject=f"partner-{index}@example.com")

    async def set(self, api: Api, sub: int, partner: int) -> None:
        row = self.subs[sub]
        variables = {
            "subscriptionId": global_id.encode("Subscription", row.id),
            "partnerId": global_id.encode("Partner", self.partners[partner].id),
            "expectedVersion": self.versions[row.id],
        }
        if (await api.data(SET, {"i": variables}, as_=self.owner))["setDigitalPartnerOfRecord"]["changed"]:
            self.versions[row.id] += 1

    async def remove(self, api: Api, sub: int) -> None:
        row = self.subs[sub]
        variables = {
            "subscriptionId": global_id.encode("Subscription", row.id),
            "expectedVersion": self.versions[row.id],
        }
        if (await api.data(REMOVE, {"i": variables}, as_=self.owner))["removeDigitalPartnerOfRecord"]["changed"]:
            self.versions[row.id] += 1


async def _world(database: Database, subscriptions: int = 1, partners: int = 3) -> World:
    tenant = factories.tenant(display_name="Contoso Private Holdings")
    pool = [factories.partner() for _ in range(partners)]
    async with database.write() as session:
        await factories.add_flushed(session, tenant, *pool)
        subs = [factories.subscription(tenant) for _ in range(subscriptions)]
        await factories.add_flushed(session, *subs)
    return World(tenant, subs, pool)


async def _endpoint(api: Api, receiver: Receiver, path: str, caller: Any, types: list[str]) -> tuple[str, str]:
    """(endpoint id, secret)."""
    variables = {"i": {"url": receiver.url(path), "eventTypes": types}}
    made = (await api.data(CREATE, variables, as_=caller))["createWebhookEndpoint"]
    return made["endpoint"]["id"], made["secret"]


async def _drain(database: Database, config: DeliveryConfig = FAST, *, seconds: float = 20) -> None:
    """Delivery passes until nothing is left to publish or due (what `serve` runs in the background)."""
    sender = sender_for(config)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            report = await deliver_once(database, sender, config)
            if not report.published and not report.attempted:
                if not await _pending(database):
                    return
                await asyncio.sleep(0.02)
        raise AssertionError("deliveries still pending")
    finally:
        await sender.aclose()


async def _deliveries(database: Database) -> list[WebhookDelivery]:
    async with database.read() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.sequence)))


async def _pending(database: Database) -> bool:
    return any(row.status is DeliveryStatus.PENDING for row in await _deliveries(database))


def _verified(requests: Iterable[Received], secret: str) -> list[dict[str, Any]]:
    """Each request's payload, after the reference library verified its signature (it raises otherwise)."""
    return [Webhook(secret).verify(request.body, request.headers) for request in requests]


async def test_each_endpoint_is_sent_exactly_what_its_owner_may_see(database: Database) -> None:
    world = await _world(database)
    async with receiving() as receiver, api_for(database, webhook_allow_private_addresses=True) as api:
        endpoints = {
            "/p1": await _endpoint(api, receiver, "/p1", world.partner_caller(0), DPOR_TYPES),
            "/p2": await _endpoint(api, receiver, "/p2", world.partner_caller(1), DPOR_TYPES),
            "/p3": await _endpoint(api, receiver, "/p3", world.partner_caller(2), DPOR_TYPES),
            "/tenant": await _endpoint(api, receiver, "/tenant", world.owner, DPOR_TYPES),
            # Subscribed to removals only: it is sent nothing else.
            "/tenant-removals": await _endpoint(
                api, receiver, "/tenant-removals", world.owner, ["association.dpor_removed"]
            ),
        }
        await world.set(api, 0, 0)
        await world.set(api, 0, 1)  # P1 replaced by P2: both are told, and the tenant
        await world.remove(api, 0)
        await _drain(database)
        log = await api.data(DELIVERIES, {"e": endpoints["/p1"][0]}, as_=world.partner_caller(0))
        foreign = await api.execute(DELIVERIES, {"e": endpoints["/p1"][0]}, as_=world.partner_caller(1))
    expected = {
        "/p1": ["association.dpor_set", "association.dpor_replaced"],
        "/p2": ["association.dpor_replaced", "association.dpor_removed"],
        "/p3": [],
        "/tenant": DPOR_TYPES,
        "/tenant-removals": ["association.dpor_removed"],
    }
    for path, types in expected.items():
        payloads = _verified(receiver.at(path), endpoints[path][1])
        assert [payload["type"] for payload in payloads] == types, path
        sequences = [payload["data"]["sequence"] for payload in payloads]
        assert sequences == sorted(sequences), path
    # The partners' copies carry no personal data: not who acted, nor the tenant's name.
    for path in ("/p1", "/p2"):
        for request in receiver.at(path):
            assert OWNER_SUBJECT not in request.body and world.tenant.display_name not in request.body
            assert json.loads(request.body)["data"]["actor"] == {"role": "OWNER", "clientId": "test-client"}
    # The old partner's copy of the replacement shows its own row only, not who replaced it.
    replaced = json.loads(receiver.at("/p1")[1].body)["data"]
    assert replaced["after"]["digitalPartnerOfRecord"] is None
    assert global_id.encode("Partner", world.partners[1].id) not in receiver.at("/p1")[1].body
    # The tenant's copy is the audit event's, who acted included.
    tenant_copy = json.loads(receiver.at("/tenant")[1].body)["data"]
    assert tenant_copy["actor"]["subject"] == OWNER_SUBJECT
    assert tenant_copy["after"]["digitalPartnerOfRecord"]["partnerId"] == global_id.encode(
        "Partner", world.partners[1].id
    )
    # The delivery log, for the endpoint's owner only.
    nodes = [edge["node"] for edge in log["webhookDeliveries"]["edges"]]
    assert [node["eventType"] for node in nodes] == ["association.dpor_replaced", "association.dpor_set"]
    assert all(node["status"] == "DELIVERED" and node["attempts"] == 1 for node in nodes)
    assert all(node["responseStatusCode"] == 200 and node["latencyMs"] >= 0 for node in nodes)
    assert [error["extensions"]["code"] for error in foreign["errors"]] == ["NOT_FOUND"]


async def test_sequences_past_graphql_int_are_told_exactly(database: Database) -> None:
    """An outbox past 2^31 - 1 events: the log's `sequence` is a BigInt (a decimal string), the body's a JSON
    number, both exact (GraphQL's Int would refuse to answer them)."""
    world = await _world(database)
    async with database.write() as session:
        await factories.sequence_after(session, 2**31 - 1)
    async with receiving() as receiver, api_for(database, webhook_allow_private_addresses=True) as api:
        endpoint, secret = await _endpoint(api, receiver, "/tenant", world.owner, DPOR_TYPES)
        await world.set(api, 0, 0)
        await world.set(api, 0, 1)
        await _drain(database)
        log = await api.data(DELIVERIES, {"e": endpoint}, as_=world.owner)
    assert [body["data"]["sequence"] for body in _verified(receiver.at("/tenant"), secret)] == [2**31, 2**31 + 1]
    assert [edge["node"]["sequence"] for edge in log["webhookDeliveries"]["edges"]] == ["2147483649", "2147483648"]


async def test_failures_are_retried_in_order_then_dead_lettered_and_redelivered(database: Database) -> None:
    world = await _world(database, partners=2)
    async with receiving() as receiver, api_for(database, webhook_allow_private_addresses=True) as api:
        endpoint, secret = await _endpoint(api, receiver, "/p1", world.partner_caller(0), DPOR_TYPES)
        receiver.status = 500
        await world.set(api, 0, 0)
        await world.set(api, 0, 1)
        await _drain(database)
        # Three attempts each (the first and two retries), the second event only after the first one died.
        requests = receiver.at("/p1")
        assert [request.data["type"] for request in requests] == ["association.dpor_set"] * 3 + [
            "association.dpor_replaced"
        ] * 3
        first_three = requests[:3]
        assert len({request.headers["webhook-id"] for request in first_three}) == 1
        assert len({request.body for request in first_three}) == 1
        _verified(requests, secret)
        log = (await api.data(DELIVERIES, {"e": endpoint}, as_=world.partner_caller(0)))["webhookDeliveries"]
        nodes = [edge["node"] for edge in log["edges"]]
        assert [(node["status"], node["attempts"], node["responseStatusCode"]) for node in nodes] == [
            ("DEAD", 3, 500),
            ("DEAD", 3, 500),
        ]
        receiver.status = 200
        dead_set = nodes[1]
        redelivered = await api.data(REDELIVER, {"i": {"deliveryId": dead_set["id"]}}, as_=world.partner_caller(0))
        assert redelivered["redeliverWebhook"]["delivery"] == {"status": "PENDING", "attempts": 0}
        await _drain(database)
    again = receiver.at("/p1")[-1]
    assert again.headers["webhook-id"] == first_three[0].headers["webhook-id"]
    assert again.body == first_three[0].body
    _verified([again], secret)


async def test_after_a_killed_worker_and_a_receiver_down_every_event_arrives_in_order(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    world = await _world(database, subscriptions=2, partners=3)
    async with receiving() as receiver, api_for(database, webhook_allow_private_addresses=True) as api:
        endpoints = {
            "/p1": await _endpoint(api, receiver, "/p1", world.partner_caller(0), DPOR_TYPES),
            "/p2": await _endpoint(api, receiver, "/p2", world.partner_caller(1), DPOR_TYPES),
            "/tenant": await _endpoint(api, receiver, "/tenant", world.owner, DPOR_TYPES),
        }
        receiver.status = 503  # down for a while
        worker = _deliver_process(database_url, tmp_path)
        try:
            for partner in (0, 1, 2, 0, 1):
                for sub in (0, 1):
                    await world.set(api, sub, partner)
            await world.remove(api, 0)
            await _wait_for(lambda: len(receiver.received) >= 6, "the worker's first attempts")
            # Requests hang now; kill the worker while they are in flight (mid-batch).
            receiver.gate.clear()
            receiver.arrived.clear()
            await asyncio.wait_for(receiver.arrived.wait(), 10)
            in_flight = len(receiver.received)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        receiver.status = 200  # back up
        receiver.gate.set()
        config = DeliveryConfig(retry_schedule=(0.1,) * 30, timeout_seconds=2, allow_private=True, lease_seconds=3)
        recovery = asyncio.create_task(deliver_every(database, config, 0.05))
        try:
            await _wait_for_delivered(database)
        finally:
            recovery.cancel()
    rows = await _deliveries(database)
    assert rows and all(row.status is DeliveryStatus.DELIVERED for row in rows)
    assert len(receiver.received) > in_flight
    event_ids = {f"evt_{row.event_id.hex}" for row in rows}
    for path, (endpoint, secret) in endpoints.items():
        requests = receiver.at(path)
        _verified(requests, secret)
        sequences = [request.data["sequence"] for request in requests]
        assert sequences == sorted(sequences), (path, sequences)  # never n+1 before n was done
        # Every event this endpoint was to get arrived, each id always with the same body.
        endpoint_id = global_id.decode(endpoint, "WebhookEndpoint")
        expected = {row.sequence for row in rows if row.endpoint_id == endpoint_id}
        assert expected, path
        assert set(sequences) == expected, path
        bodies: dict[str, set[str]] = {}
        for request in requests:
            bodies.setdefault(request.headers["webhook-id"], set()).add(request.body)
            assert request.headers["webhook-id"] in event_ids
        assert all(len(seen) == 1 for seen in bodies.values()), path
    # Some event was sent more than once (the retries of the receiver's outage, the killed attempt's retry).
    assert len(receiver.received) > len(rows)


def _deliver_process(database_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    base = {name: value for name, value in os.environ.items() if not name.startswith("DPOR_")}
    env = {
        **base,
        "DPOR_DATABASE_URL": database_url,
        "DPOR_VAR_DIR": str(tmp_path / "var"),
        "DPOR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "DPOR_WEBHOOK_RETRY_SCHEDULE_SECONDS": json.dumps([0.1] * 30),
        "DPOR_WEBHOOK_TIMEOUT_SECONDS": "2",
        "DPOR_WEBHOOK_LEASE_SECONDS": "3",
        "DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS": "0.05",
    }
    with (tmp_path / "deliver.log").open("wb") as log:
        return subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "dpor-gateway"), "deliver"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


async def _wait_for(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _wait_for_delivered(database: Database, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        rows = await _deliveries(database)
        if rows and all(row.status is DeliveryStatus.DELIVERED for row in rows):
            async with database.read() as session:
                unsequenced = await session.scalar(select(ChangeEvent.id).where(ChangeEvent.sequence.is_(None)))
            if unsequenced is None:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"not delivered: {[(row.sequence, row.status, row.last_error) for row in rows]}")
        await asyncio.sleep(0.1)


async def test_the_served_app_delivers_in_the_background(database: Database) -> None:
    # What `serve` runs in each worker: the app's lifespan starts the delivery worker beside the sweeper.
    world = await _world(database)
    async with receiving() as receiver, api_for(database, webhook_allow_private_addresses=True) as api:
        _, secret = await _endpoint(api, receiver, "/p1", world.partner_caller(0), DPOR_TYPES)
        app = create_app(api.settings.model_copy(update={"webhook_delivery_interval_seconds": 0.05}), database)
        async with app.router.lifespan_context(app):
            await world.set(api, 0, 0)
            await _wait_for(lambda: bool(receiver.at("/p1")), "the background delivery")
    (payload,) = _verified(receiver.at("/p1"), secret)
    assert payload["type"] == "association.dpor_set"


async def test_several_workers_never_send_the_same_delivery_twice(database: Database) -> None:
    # Four workers at once (FOR UPDATE SKIP LOCKED and the lease on PostgreSQL, the write lock on SQLite), a
    # receiver that always answers 200: every delivery arrives exactly once, in each endpoint's order.
    world = await _world(database, subscriptions=4, partners=3)
    async with receiving() as receiver, api_for(database, webhook_allow_private_addresses=True) as api:
        paths = {"/p0": world.partner_caller(0), "/p1": world.partner_caller(1), "/tenant": world.owner}
        for path, caller in paths.items():
            await _endpoint(api, receiver, path, caller, DPOR_TYPES)
        workers = [asyncio.create_task(deliver_every(database, FAST, 0.01)) for _ in range(4)]
        try:
            for round_ in range(3):
                for sub in range(4):
                    await world.set(api, sub, (sub + round_) % 3)
            await _wait_for_delivered(database)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    rows = await _deliveries(database)
    assert len(receiver.received) == len(rows) > 0
    for path in paths:
        sequences = [request.data["sequence"] for request in receiver.at(path)]
        assert sequences == sorted(set(sequences)), path


async def test_an_endpoint_is_told_of_what_happens_from_its_creation_on(database: Database) -> None:
    world = await _world(database, partners=2)
    async with receiving() as receiver, api_for(database, webhook_allow_private_addresses=True) as api:
        await world.set(api, 0, 0)  # committed, not yet published when the endpoint is created
        _, secret = await _endpoint(api, receiver, "/p1", world.partner_caller(0), DPOR_TYPES)
        await world.set(api, 0, 1)
        await _drain(database)
    assert [payload["type"] for payload in _verified(receiver.at("/p1"), secret)] == ["association.dpor_replaced"]
