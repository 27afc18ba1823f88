"""Read replicas against a real streaming replica (issue 16): routing, lag and read-your-writes, failover.

A throwaway primary and a pg_basebackup replica of it run on loopback (tests/clusters.py says why not the machine's
server, and how they run when the tests run as root), started once for the module and always removed. Where a
request's statements ran is counted per engine (the primary's and the replica's `before_cursor_execute`; the
compiled path announces its statements there too). Collected only when a PostgreSQL server is configured, like the
other PostgreSQL-only tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event, text

from auth.principal import Principal, Role
from db import migrations
from db.engine import Database
from db.replicas import Replicas, RoutedRequestDatabase
from gateway import wiring
from gateway.app import create_app
from gateway.settings import load_settings
from tests import clusters, databases, factories
from tests.api import _VAR_DIR, Api, principal

__test__ = "postgresql" in databases.backends()
pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(clusters.cannot_run_clusters() is not None, reason=str(clusters.cannot_run_clusters())),
]

CREATE = """mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { endpoint { id } }
}"""
LIST = "{ webhookEndpoints { id } }"
# Compiled on PostgreSQL (resolvers/compiled/): served on the driver pool, not a session.
COMPILED = "query Page { attributedSubscriptions(first: 5) { totalCount } }"
MAX_LAG = 0.5
CHECK = 0.2
READ_YOUR_WRITES = 1.0


@dataclass
class Pair:
    primary: clusters.Cluster
    replica: clusters.Cluster


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    base = clusters.owned_directory(Path(tempfile.mkdtemp(prefix="dpor-replicas-")))
    base.chmod(0o755)
    primary = replica = None
    try:
        primary = clusters.new_primary(base / "primary")
        migrations.upgrade(primary.url())
        replica = clusters.new_replica(primary, base / "replica")
        yield Pair(primary, replica)
    finally:
        clusters.remove(replica, primary)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Counts:
    primary: int = 0
    replica: int = 0


@dataclass
class Gateway:
    api: Api
    database: Database
    replicas: Replicas
    counts: Counts

    async def data(self, query: str, caller: Principal, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.api.data(query, variables, as_=caller)

    async def where(self, query: str, caller: Principal) -> tuple[str, dict[str, Any]]:
        """Where the request's statements ran ("primary", "replica", or "both"), and its data."""
        before = Counts(self.counts.primary, self.counts.replica)
        data = await self.data(query, caller)
        on_primary = self.counts.primary > before.primary
        on_replica = self.counts.replica > before.replica
        return ("both" if on_primary else "replica") if on_replica else "primary" if on_primary else "none", data


async def _replay(pair: Pair, function: str) -> None:
    connection = await asyncpg.connect(pair.replica.dsn(), timeout=5)
    try:
        await connection.execute(f"SELECT {function}()")
    finally:
        await connection.close()


async def _caught_up(replicas: Replicas) -> None:
    """Until the replica has replayed everything the primary had (up alone allows a lag within the bound)."""
    async with asyncio.timeout(10):
        while True:
            await replicas.check()
            if replicas.states() == ["up"] and replicas.members[0].lag_seconds == 0:
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def gateway(pair: Pair) -> AsyncIterator[Gateway]:
    """The gateway over the primary and its replica, the replica running, replaying and caught up."""
    if not pair.replica.running():
        pair.replica.start()
    await _replay(pair, "pg_wal_replay_resume")
    settings = load_settings(
        database_url=pair.primary.url(),
        database_read_urls=(pair.replica.url(),),
        database_replica_max_lag_seconds=MAX_LAG,
        database_replica_check_seconds=CHECK,
        database_read_your_writes_seconds=READ_YOUR_WRITES,
        db_pool_size=4,
        var_dir=_VAR_DIR,
    )
    database = wiring.database(settings)
    assert database.replicas is not None
    counts = Counts()

    def on_primary(*_: Any) -> None:
        counts.primary += 1

    def on_replica(*_: Any) -> None:
        counts.replica += 1

    event.listen(database.engine.sync_engine, "before_cursor_execute", on_primary)
    event.listen(database.replicas.members[0].database.engine.sync_engine, "before_cursor_execute", on_replica)
    transport = httpx.ASGITransport(app=create_app(settings, database))
    try:
        await _caught_up(database.replicas)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield Gateway(Api(client, database, settings), database, database.replicas, counts)
    finally:
        await database.dispose()


async def _partner(database: Database) -> Principal:
    partner = factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, partner)
    return principal(Role.PARTNER, partner=partner.mpn_id, subject=f"subject-{partner.mpn_id}")


def _endpoint(n: int) -> dict[str, Any]:
    return {"i": {"url": f"https://hooks.example.com/{n}", "eventTypes": ["association.dpor_set"]}}


async def test_reads_go_to_the_replica_and_mutations_to_the_primary(gateway: Gateway) -> None:
    caller = await _partner(gateway.database)
    await _caught_up(gateway.replicas)
    # A request's read session sits on the replica: PostgreSQL itself says it is in recovery there.
    request = gateway.database.for_request()
    assert isinstance(request, RoutedRequestDatabase)
    async with request.read() as session:
        assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is True
    await request.close()
    assert await gateway.where(LIST, caller) == ("replica", {"webhookEndpoints": []})
    # The compiled path too: on the request's replica session while it resolves the caller's scope, then (the
    # scope known) on the replica's own driver pool.
    assert (await gateway.where(COMPILED, caller))[0] == "replica"
    assert (await gateway.where(COMPILED, caller))[0] == "replica"
    driver = gateway.replicas.members[0].database.driver
    assert driver is not None and driver._pool is not None
    # A mutation reads (the caller's scope, what it checks) and writes on the primary only.
    before = Counts(gateway.counts.primary, gateway.counts.replica)
    made = await gateway.data(CREATE, caller, _endpoint(1))
    assert made["createWebhookEndpoint"]["endpoint"]["id"]
    assert gateway.counts.replica == before.replica and gateway.counts.primary > before.primary


async def test_a_writer_reads_its_write_while_the_replica_lags_and_others_leave_a_lagging_replica(
    gateway: Gateway, pair: Pair
) -> None:
    writer, other = await _partner(gateway.database), await _partner(gateway.database)
    await _caught_up(gateway.replicas)
    await _replay(pair, "pg_wal_replay_pause")
    made = await gateway.data(CREATE, writer, _endpoint(2))
    endpoint = made["createWebhookEndpoint"]["endpoint"]["id"]
    # The replica has not replayed the write, yet the writer sees it: pinned to the primary.
    assert await gateway.where(LIST, writer) == ("primary", {"webhookEndpoints": [{"id": endpoint}]})
    replica = await asyncpg.connect(pair.replica.dsn("postgres"), timeout=5)
    try:
        url = _endpoint(2)["i"]["url"]
        assert await replica.fetchval("SELECT count(*) FROM webhook_endpoints WHERE url = $1", url) == 0
    finally:
        await replica.close()
    # Another caller still reads the replica while its lag is within the bound...
    assert (await gateway.where(LIST, other))[0] == "replica"
    # ...and the primary once the lag passes it (the write is older than the bound, the replica has not replayed it).
    await asyncio.sleep(MAX_LAG + CHECK)
    await gateway.replicas.check()
    member = gateway.replicas.members[0]
    assert member.state == "lagging" and member.lag_seconds is not None and member.lag_seconds > MAX_LAG
    assert (await gateway.where(LIST, other))[0] == "primary"
    assert (await gateway.where(COMPILED, other))[0] == "primary"
    degraded = (await gateway.api.client.get("/readyz")).json()
    assert degraded["status"] == "degraded" and degraded["replicas"] == ["lagging"]
    # Replay resumes: the replica catches up and serves again, the writer too once its window has passed.
    await _replay(pair, "pg_wal_replay_resume")
    await _caught_up(gateway.replicas)
    assert (await gateway.where(LIST, other))[0] == "replica"
    await asyncio.sleep(READ_YOUR_WRITES)
    assert await gateway.where(LIST, writer) == ("replica", {"webhookEndpoints": [{"id": endpoint}]})


async def test_a_stopped_replica_fails_over_to_the_primary_and_readiness_says_degraded(
    gateway: Gateway, pair: Pair
) -> None:
    caller = await _partner(gateway.database)
    await _caught_up(gateway.replicas)
    assert (await gateway.where(LIST, caller))[0] == "replica"
    assert (await gateway.where(COMPILED, caller))[0] == "replica"
    ready = (await gateway.api.client.get("/readyz")).json()
    assert ready == {"status": "ok", "revision": ready["revision"], "replicas": ["up"]}
    # In a thread, so that the event loop runs meanwhile as a serving gateway's does, and sees the server close its
    # pooled connections.
    await asyncio.to_thread(pair.replica.stop)
    # Before any health check noticed: the request's connection attempt fails over, and the read succeeds.
    assert await gateway.where(LIST, caller) == ("primary", {"webhookEndpoints": []})
    assert (await gateway.where(COMPILED, caller))[0] == "primary"
    await gateway.replicas.check()
    assert gateway.replicas.states() == ["down"]
    response = await gateway.api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["replicas"] == ["down"]
    metrics = (await gateway.api.client.get("/metrics")).text
    assert 'dpor_db_replica_up{replica="replica-1"} 0.0' in metrics
    assert 'dpor_db_read_routes_total{route="primary_failover"}' in metrics
    assert (await gateway.where(LIST, caller))[0] == "primary"


async def test_a_replica_gone_under_a_statement_fails_that_read_and_is_left_at_once(
    gateway: Gateway, pair: Pair
) -> None:
    caller = await _partner(gateway.database)
    await _caught_up(gateway.replicas)
    assert (await gateway.where(LIST, caller))[0] == "replica"
    # Stopped while the event loop is blocked: the pooled connection still looks open when the next read takes it,
    # and the server's goodbye arrives as the statement's answer.
    pair.replica.stop()
    body = await gateway.api.execute(LIST, as_=caller)
    assert [error["extensions"]["code"] for error in body.get("errors", [])] in ([], ["DATABASE_UNAVAILABLE"])
    assert gateway.replicas.states() == ["down"]
    assert await gateway.where(LIST, caller) == ("primary", {"webhookEndpoints": []})


@pytest.mark.skipif(not os.environ.get("DPOR_TEST_REDIS_URL"), reason="DPOR_TEST_REDIS_URL is not set")
async def test_a_pin_in_redis_holds_in_every_process() -> None:
    from db.read_pins import ReadPins

    url = os.environ["DPOR_TEST_REDIS_URL"]
    one, other = ReadPins(1.0, redis_url=url), ReadPins(1.0, redis_url=url)
    try:
        caller = f"subject-{os.getpid()}-{id(one)}"
        assert not await other.pinned(caller)
        await one.pin(caller)
        assert await other.pinned(caller)
        await asyncio.sleep(1.1)
        assert not await other.pinned(caller)
    finally:
        await one.close()
        await other.close()
