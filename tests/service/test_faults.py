"""The database goes away under traffic (PostgreSQL only): requests fail fast with a coded error, /readyz says
503 with a reason, the gateway serves again by itself once the database is back, and no half-written DPOR
change survives.

Ways the database goes away, none of which touches the shared server itself:
- its connections are killed: `pg_terminate_backend` on this test database's backends only (filtered by
  datname), from a separate admin connection, while requests run;
- it is unreachable: the gateway talks to it through a loopback TCP proxy (tests/resilience_support.py) that
  is closed (connection refused) or turned into a black hole (connections accepted, nothing answered);
- it is blocked: a lock held by another session, so statements wait until `statement_timeout` cancels them.

These tests exist only for PostgreSQL (the class below is not collected at all without
DPOR_TEST_POSTGRES_URL): SQLite has no server to lose.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from auth.principal import Role
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.engine import Database
from db.enums import AssociationType
from db.subscription import Subscription
from schema import global_id
from tests import databases, factories
from tests.api import Api, principal, token_for
from tests.resilience_support import TcpProxy, check_invariants, gateway

# Generous: a 2-core machine under load may be slow; a hang is minutes, not seconds.
FAIL_FAST_SECONDS = 8.0
RECOVERY_BOUND_SECONDS = 15.0
REQUEST_TIMEOUT_SECONDS = 3.0
STATEMENT_TIMEOUT_MS = 1_000
# What a request may answer while the database is away: a coded error, never an uncoded one or a 5xx.
OUTAGE_CODES = frozenset({"DATABASE_UNAVAILABLE", "TIMEOUT", "CONFLICT"})

log = logging.getLogger(__name__)

READ = "{ subscriptions(first: 5) { totalCount edges { node { id version digitalPartnerOfRecord { id } } } } }"
SET_DPOR = """
mutation($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) { changed subscription { version } }
}
"""


@dataclass
class Outcomes:
    ok: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0

    def record(self, status: int, body: dict[str, Any], elapsed: float) -> None:
        assert status == 200, (status, body)
        self.slowest = max(self.slowest, elapsed)
        errors = body.get("errors") or []
        if not errors:
            self.ok += 1
        for error in errors:
            code = (error.get("extensions") or {}).get("code")
            assert code in OUTAGE_CODES, error
            self.codes[code] += 1


async def call(api: Api, query: str, variables: dict[str, Any] | None, as_: Any) -> tuple[int, dict[str, Any], float]:
    started = time.perf_counter()
    # The bound on the whole call is the test's own guard against a hang; the gateway must answer well before.
    async with asyncio.timeout(60):
        response = await api.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token_for(api.settings, as_)}"},
        )
    return response.status_code, response.json(), time.perf_counter() - started


def admin_dsn() -> str:
    """The server's maintenance database: the admin connection must not count among the test's backends."""
    url = make_url(os.environ[databases.POSTGRES_URL_VARIABLE]).set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


async def terminate_backends(database_name: str) -> int:
    """Kill every connection to this test's database (and only it), from a connection to another database."""
    connection = await asyncpg.connect(admin_dsn(), timeout=10)
    try:
        killed = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database_name,
        )
    finally:
        await connection.close()
    return int(killed or 0)


@dataclass
class World:
    owner: Any
    subscriptions: list[Any]
    partners: list[Any]


async def build_world(database: Database, subscriptions: int = 8, partners: int = 4) -> World:
    tenant = factories.tenant()
    pool = [factories.partner() for _ in range(partners)]
    async with database.write() as session:
        await factories.add_flushed(session, tenant, *pool)
        subs = [factories.subscription(tenant) for _ in range(subscriptions)]
        await factories.add_flushed(session, *subs)
    return World(principal(Role.OWNER, tenant=tenant.external_id), subs, pool)


async def wait_until_serving(api: Api, as_: Any, bound: float = RECOVERY_BOUND_SECONDS) -> float:
    """Seconds until a read succeeds again (polling every 50 ms)."""
    started = time.perf_counter()
    while True:
        status, body, _ = await call(api, READ, None, as_)
        if status == 200 and not body.get("errors"):
            return time.perf_counter() - started
        assert time.perf_counter() - started < bound, body
        await asyncio.sleep(0.05)


@pytest.fixture
async def proxied(database: Database) -> AsyncIterator[tuple[TcpProxy, Database]]:
    """A second Database for the same PostgreSQL database, reached through a proxy the test controls."""
    url = database.engine.url
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    db = Database.from_url(through, pool_size=5, statement_timeout_ms=STATEMENT_TIMEOUT_MS)
    try:
        yield proxy, db
    finally:
        await db.dispose()
        await proxy.down()


@pytest.fixture
async def statement_timed(database: Database) -> AsyncIterator[Database]:
    """The same database, with the server cancelling any statement that runs past STATEMENT_TIMEOUT_MS."""
    url = database.engine.url.render_as_string(hide_password=False)
    db = Database.from_url(url, pool_size=5, statement_timeout_ms=STATEMENT_TIMEOUT_MS)
    try:
        yield db
    finally:
        await db.dispose()


class TestDatabaseFaults:
    # Collected only when a PostgreSQL server is configured; never a SQLite case, never a skip.
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    async def test_killed_connections_fail_fast_and_the_gateway_recovers_by_itself(self, database: Database) -> None:
        world = await build_world(database)
        name = database.engine.url.database
        assert name is not None and name.startswith("dpor_test_")
        outcomes = Outcomes()
        recoveries: list[float] = []
        async with gateway(database, request_timeout_seconds=REQUEST_TIMEOUT_SECONDS) as api:
            stop = asyncio.Event()

            async def reader() -> None:
                while not stop.is_set():
                    outcomes.record(*(await call(api, READ, None, world.owner)))

            readers = [asyncio.create_task(reader()) for _ in range(4)]
            for _ in range(5):
                await asyncio.sleep(0.3)
                killed = await terminate_backends(name)
                recoveries.append(await wait_until_serving(api, world.owner))
                log.info("terminated %d backends; serving again after %.3f s", killed, recoveries[-1])
            stop.set()
            await asyncio.gather(*readers)
            ready = await api.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert outcomes.ok > 0
        assert outcomes.slowest < FAIL_FAST_SECONDS, outcomes
        print(f"\nkilled connections: {outcomes}, recovery seconds: {[round(r, 3) for r in recoveries]}")

    async def test_unreachable_database_is_refused_fast_and_readyz_says_why(
        self, proxied: tuple[TcpProxy, Database]
    ) -> None:
        proxy, db = proxied
        world = await build_world(db, subscriptions=2)
        async with gateway(db, request_timeout_seconds=REQUEST_TIMEOUT_SECONDS) as api:
            await wait_until_serving(api, world.owner)
            await proxy.down()
            refused: list[float] = []
            for _ in range(3):
                status, body, elapsed = await call(api, READ, None, world.owner)
                assert status == 200 and [e["extensions"]["code"] for e in body["errors"]] == ["DATABASE_UNAVAILABLE"]
                assert elapsed < FAIL_FAST_SECONDS
                refused.append(elapsed)
            ready = await api.client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["reason"].startswith("database unreachable")

            await proxy.up()
            recovered = await wait_until_serving(api, world.owner)
            assert (await api.client.get("/readyz")).status_code == 200
        print(f"\nrefused in {max(refused):.3f} s at most; serving again {recovered:.3f} s after it came back")

    async def test_a_silent_database_times_out_instead_of_hanging(self, proxied: tuple[TcpProxy, Database]) -> None:
        proxy, db = proxied
        world = await build_world(db, subscriptions=2)
        async with gateway(db, request_timeout_seconds=REQUEST_TIMEOUT_SECONDS) as api:
            await wait_until_serving(api, world.owner)
            await proxy.blackhole()
            status, body, elapsed = await call(api, READ, None, world.owner)
            assert status == 200 and [e["extensions"]["code"] for e in body["errors"]] == ["TIMEOUT"], body
            assert elapsed < REQUEST_TIMEOUT_SECONDS + FAIL_FAST_SECONDS
            started = time.perf_counter()
            ready = await api.client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["reason"].startswith("database unreachable")
            assert time.perf_counter() - started < FAIL_FAST_SECONDS

            await proxy.up()
            recovered = await wait_until_serving(api, world.owner)
        print(f"\nblack hole: TIMEOUT after {elapsed:.3f} s; serving again {recovered:.3f} s after it came back")

    async def test_a_blocked_database_is_cut_off_by_the_statement_timeout(
        self, database: Database, statement_timed: Database
    ) -> None:
        world = await build_world(database, subscriptions=2)
        url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        # The request deadline is well past the statement timeout: the server is what cancels here.
        async with gateway(statement_timed, request_timeout_seconds=10.0) as api:
            await wait_until_serving(api, world.owner)
            blocker = await asyncpg.connect(url, timeout=10)
            try:
                transaction = blocker.transaction()
                await transaction.start()
                await blocker.execute("LOCK TABLE subscriptions IN ACCESS EXCLUSIVE MODE")
                status, body, elapsed = await call(api, READ, None, world.owner)
                assert status == 200 and [e["extensions"]["code"] for e in body["errors"]] == ["TIMEOUT"], body
                assert elapsed < STATEMENT_TIMEOUT_MS / 1000 + FAIL_FAST_SECONDS
                await transaction.rollback()
            finally:
                await blocker.close()
            recovered = await wait_until_serving(api, world.owner)
        print(f"\nlocked table: TIMEOUT after {elapsed:.3f} s; serving again {recovered:.3f} s after the lock went")

    async def test_a_dpor_change_cut_off_by_a_killed_connection_is_all_or_nothing(self, database: Database) -> None:
        world = await build_world(database, subscriptions=6, partners=4)
        name = database.engine.url.database
        assert name is not None
        outcomes = Outcomes()
        changed = 0
        async with gateway(database, request_timeout_seconds=REQUEST_TIMEOUT_SECONDS) as api:
            stop = asyncio.Event()

            async def owner(sub: Any) -> None:
                nonlocal changed
                partners = itertools.cycle(world.partners)
                while not stop.is_set():
                    version = await current_version(database, sub.id)
                    variables = {
                        "input": {
                            "subscriptionId": global_id.encode("Subscription", sub.id),
                            "partnerId": global_id.encode("Partner", next(partners).id),
                            "expectedVersion": version,
                        }
                    }
                    status, body, elapsed = await call(api, SET_DPOR, variables, world.owner)
                    outcomes.record(status, body, elapsed)
                    changed += bool(not body.get("errors") and body["data"]["setDigitalPartnerOfRecord"]["changed"])

            owners = [asyncio.create_task(owner(sub)) for sub in world.subscriptions]
            for _ in range(8):
                await asyncio.sleep(0.25)
                await terminate_backends(name)
            stop.set()
            await asyncio.gather(*owners, return_exceptions=False)
        # Each change is whole or absent: every DPOR row has its audit event and its version bump.
        await check_invariants(database, exact_versions=True)
        async with database.read() as session:
            rows = await session.scalar(
                select(func.count()).where(PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD)
            )
            audits = await session.scalar(select(func.count()).where(AuditEvent.action == "setDigitalPartnerOfRecord"))
            bumps = await session.scalar(select(func.sum(Subscription.version - 1)))
        assert rows == audits == bumps
        # A change whose answer was lost may still have committed; one that answered OK must be there.
        assert int(rows or 0) >= changed > 0
        print(f"\ninterrupted DPOR changes: {outcomes}; {changed} answered changed, {rows} committed")


async def current_version(database: Database, subscription_id: uuid.UUID) -> int:
    for _ in range(100):
        try:
            async with database.read() as session:
                version = await session.scalar(select(Subscription.version).where(Subscription.id == subscription_id))
            return int(version or 1)
        except Exception:  # the test's own read may meet a killed connection too: try again
            await asyncio.sleep(0.05)
    raise AssertionError("the test could not read the subscription's version")
