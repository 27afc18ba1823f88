"""On PostgreSQL usage_records, usage_daily_rollups and usage_monthly_rollups reference subscriptions through
set-based triggers, not foreign keys (alembic revisions 0011_usage_subscription_checks and
0013_usage_ingest_writes): they must refuse what the foreign keys refused. A row
naming a missing subscription, among valid ones, fails its whole statement; a subscription with usage cannot be
deleted or have its id changed; a usage row cannot move to another subscription. Collected only when a PostgreSQL
server is configured (SQLite keeps its foreign keys)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.engine import Database
from resolvers.usage.ingestion import ingest_usage
from tests import databases
from tests.usage_helpers import build_world, record

__test__ = "postgresql" in databases.backends()
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

_RECORD = (
    "INSERT INTO usage_records (subscription_id, usage_date, service_name, meter_id, meter_name, meter_category,"
    " quantity, unit, amount, currency, ingested_at)"
    " SELECT s, current_date, 'Compute', m, 'meter', 'Compute', 1, 'Hours', 1, 'USD', now()"
    " FROM unnest(CAST(:subscriptions AS uuid[]), CAST(:meters AS text[])) AS t(s, m)"
)
_DAILY = (
    "INSERT INTO usage_daily_rollups (subscription_id, usage_date, service_name, currency, quantity, amount,"
    " record_count) VALUES (:subscription, current_date, 'Compute', 'USD', 1, 1, 1)"
)
_MONTHLY = (
    "INSERT INTO usage_monthly_rollups (subscription_id, month, service_name, currency, quantity, amount,"
    " record_count) VALUES (:subscription, date_trunc('month', current_date)::date, 'Compute', 'USD', 1, 1, 1)"
)


def _sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None)


@on_postgresql
async def test_a_row_naming_a_missing_subscription_fails_its_whole_statement(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    known = [str(subscription.id) for subscription in world.subscriptions]
    missing = str(uuid.uuid4())
    with pytest.raises(DBAPIError) as refused:
        async with database.write() as session:
            await session.execute(text(_RECORD), {"subscriptions": [*known, missing], "meters": ["m1", "m2", "m3"]})
    assert _sqlstate(refused.value) == "23503"
    for rollup in (_DAILY, _MONTHLY):
        with pytest.raises(DBAPIError) as refused:
            async with database.write() as session:
                await session.execute(text(rollup), {"subscription": missing})
        assert _sqlstate(refused.value) == "23503"
    async with database.write() as session:
        await session.execute(text(_RECORD), {"subscriptions": known, "meters": ["m1", "m2"]})
        counted = (await session.execute(text("SELECT count(*) FROM usage_records"))).scalar_one()
    assert counted == 2


@on_postgresql
async def test_a_subscription_with_usage_cannot_be_deleted_or_renumbered(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    used, unused = world.subscriptions
    async with database.write() as session:
        await ingest_usage(session, [record(used, "2026-11-02")])
    for statement in (
        "DELETE FROM subscriptions WHERE id = :id",
        "UPDATE subscriptions SET id = gen_random_uuid() WHERE id = :id",
    ):
        with pytest.raises(DBAPIError) as refused:
            async with database.write() as session:
                await session.execute(text(statement), {"id": used.id})
        assert _sqlstate(refused.value) == "23503"
    # Outside READ COMMITTED the trigger's snapshot could miss a concurrent ingest's rows: refused outright.
    async with database.engine.connect() as plain:
        repeatable = await plain.execution_options(isolation_level="REPEATABLE READ")
        with pytest.raises(DBAPIError) as refused:
            async with repeatable.begin():
                await repeatable.execute(text("DELETE FROM subscriptions WHERE id = :id"), {"id": unused.id})
    assert _sqlstate(refused.value) == "55000"
    # Other columns change freely, and a subscription without usage goes.
    async with database.write() as session:
        await session.execute(text("UPDATE subscriptions SET version = version + 1 WHERE id = :id"), {"id": used.id})
        await session.execute(text("DELETE FROM subscriptions WHERE id = :id"), {"id": unused.id})


@on_postgresql
async def test_a_monthly_rollup_row_alone_keeps_its_subscription(database: Database) -> None:
    # The monthly rollups' foreign key was the last real one (until revision 0013_usage_ingest_writes): the restrict
    # trigger looks there too, whatever the other tables hold.
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    subscription = world.subscriptions[0]
    async with database.write() as session:
        await session.execute(text(_MONTHLY), {"subscription": subscription.id})
    with pytest.raises(DBAPIError) as refused:
        async with database.write() as session:
            await session.execute(text("DELETE FROM subscriptions WHERE id = :id"), {"id": subscription.id})
    assert _sqlstate(refused.value) == "23503"


@on_postgresql
async def test_a_usage_row_never_moves_to_another_subscription(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    first, second = world.subscriptions
    async with database.write() as session:
        await ingest_usage(session, [record(first, "2026-11-02")])
    for table in ("usage_records", "usage_daily_rollups", "usage_monthly_rollups"):
        with pytest.raises(DBAPIError) as refused:
            async with database.write() as session:
                await session.execute(text(f"UPDATE {table} SET subscription_id = :to"), {"to": second.id})
        assert _sqlstate(refused.value) == "23503"
