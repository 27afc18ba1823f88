"""Usage partitioned by month on PostgreSQL (issue 16, revision 0009): an archived (detached) month leaves every read
and comes back when attached, a write into it is refused, a one-month read touches one month's partitions, and the
migration carries rows over both ways. Collected only when a PostgreSQL server is configured (SQLite keeps plain
tables; tests/service/test_partitions.py covers what both share)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock, migrations, partitions
from db.engine import Database
from gateway import cli
from resolvers.errors import Conflict
from resolvers.sweep import sweep
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.aggregates import usage_aggregates
from resolvers.usage.ingestion import ingest_usage
from resolvers.usage.plan import plan
from resolvers.usage.rollups import rebuild_rollups
from tests import databases, factories
from tests.service.test_partitions import TODAY, months, stored, totals, without_partitions
from tests.usage_helpers import ALL, build_world, reach, record

__test__ = "postgresql" in databases.backends()
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

ARCHIVED = date(2025, 8, 1)
KEPT = date(2025, 9, 1)


@on_postgresql
async def test_an_archived_month_leaves_every_read_and_comes_back_when_attached(database: Database) -> None:
    await without_partitions(database, ARCHIVED, KEPT)
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0]
    batch = [record(sub, day, amount="2.00") for day in ("2025-08-10", "2025-08-11", "2025-09-01")]
    async with database.write() as session:
        await ingest_usage(session, batch, today=TODAY)
    window = (ARCHIVED, date(2025, 9, 30))
    everything = await totals(database, *window)
    assert everything == [
        (ARCHIVED, "Compute", Decimal("4.00"), Decimal("2")),
        (KEPT, "Compute", Decimal("2.00"), Decimal("1")),
    ]
    async with database.engine.begin() as connection:
        await partitions.detach(connection, ARCHIVED)
    assert await totals(database, *window) == everything[1:]
    # Day by day too (the daily rollup), and the records themselves.
    async with database.read() as session:
        days = await usage_aggregates(session, AggregateFilter(*window), [GroupBy.DAY], reach(ALL))
    assert [row.day for row in days] == [KEPT]
    assert await stored(database) == (1, Decimal("2.00"))
    assert {key: attached for key, attached in (await months(database)).items() if key[1] == ARCHIVED} == {
        (table, ARCHIVED): False for table in partitions.PARENTS
    }
    # A write into the archived month is refused, naming it, and writes nothing of its batch.
    with pytest.raises(Conflict, match="usage month 2025-08 is archived") as refused:
        async with database.write() as session:
            await ingest_usage(session, [record(sub, "2025-09-02"), record(sub, "2025-08-12")], today=TODAY)
    assert refused.value.extensions["reason"] == "USAGE_MONTH_ARCHIVED"
    assert await stored(database) == (1, Decimal("2.00"))
    with pytest.raises(partitions.PartitionError, match="2025-08 is not attached"):
        async with database.engine.begin() as connection:
            await partitions.detach(connection, ARCHIVED)
    async with database.engine.begin() as connection:
        await partitions.attach(connection, ARCHIVED)
    assert await totals(database, *window) == everything
    assert await stored(database) == (3, Decimal("6.00"))
    # Attached again, the month takes corrections as before.
    async with database.write() as session:
        result = await ingest_usage(session, [record(sub, "2025-08-10", amount="1.00")], today=TODAY)
    assert (result.inserted, result.replaced) == (0, 1)
    assert (await totals(database, *window))[0] == (ARCHIVED, "Compute", Decimal("3.00"), Decimal("2"))


@on_postgresql
async def test_a_one_month_read_touches_that_months_partitions_only(database: Database) -> None:
    await without_partitions(database, ARCHIVED, KEPT)
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0]
    async with database.write() as session:
        await ingest_usage(session, [record(sub, "2025-08-10"), record(sub, "2025-09-10")], today=TODAY)
    for group_by in ([GroupBy.SERVICE], [GroupBy.DAY]):  # whole months (monthly rollup), and days (daily rollup)
        planned = plan(AggregateFilter(ARCHIVED, date(2025, 8, 31)), group_by, "postgresql", reach(ALL))
        assert planned is not None
        touched: set[str] = set()
        async with database.engine.connect() as connection:
            for statement in planned.sums:
                touched |= await _partitions_in_plan(connection, statement, planned.parameters)
        assert touched, group_by
        assert all(name.endswith("_p2025_08") for name in touched), (group_by, touched)


async def _partitions_in_plan(connection: AsyncConnection, statement: Any, parameters: dict[str, Any]) -> set[str]:
    """The usage partitions the plan of `statement` scans, from EXPLAIN of the SQL exactly as the app sends it."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        sent.append((sql, params))

    event.listen(connection.sync_engine, "before_cursor_execute", capture)
    try:
        await connection.execute(statement, parameters)
    finally:
        event.remove(connection.sync_engine, "before_cursor_execute", capture)
    sql, params = sent[-1]
    explained = await connection.exec_driver_sql(f"EXPLAIN {sql}", params)
    lines = "\n".join(row[0] for row in explained)
    return {word for word in lines.replace("(", " ").split() if partitions.is_partition_name(word)}


def test_the_migration_carries_usage_over_and_back() -> None:
    url = databases.create_postgres_database()
    try:
        migrations.upgrade(url, "0008")
        asyncio.run(_fill_unpartitioned(url))
        before = asyncio.run(_snapshot(url))
        assert before["usage_records"] and before["usage_daily_rollups"] and before["usage_monthly_rollups"]
        migrations.upgrade(url, "0009")
        assert asyncio.run(_snapshot(url)) == before
        kinds, month_set = asyncio.run(_layout(url))
        assert kinds == dict.fromkeys(partitions.PARENTS, "p")
        assert {date(2024, 1, 1), date(2024, 2, 1)} <= month_set  # the data's months, and those ahead
        assert asyncio.run(_next_id(url)) > max(row[0] for row in before["usage_records"])
        with_new_row = asyncio.run(_snapshot(url))
        migrations.downgrade(url, "0008")
        assert asyncio.run(_snapshot(url)) == with_new_row
        kinds, month_set = asyncio.run(_layout(url))
        assert kinds == dict.fromkeys(partitions.PARENTS, "r")
        assert month_set == set()
        migrations.upgrade(url)  # and up again, with the row the check above added
        assert len(asyncio.run(_snapshot(url))["usage_records"]) == len(before["usage_records"]) + 1
    finally:
        databases.drop_postgres_database(url)


async def _fill_unpartitioned(url: str) -> None:
    """Usage of two months written as revision 0007 stored it (plain tables, no partition function yet)."""
    database = Database.from_url(url, pool_size=2)
    try:
        tenant = factories.tenant()
        async with database.write() as session:
            await factories.add_flushed(session, tenant)
            subs = [factories.subscription(tenant) for _ in range(2)]
            await factories.add_flushed(session, *subs)
            for index, day in enumerate((date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1))):
                for sub in subs:
                    await session.execute(
                        text(
                            "INSERT INTO usage_records (subscription_id, usage_date, service_name, meter_id,"
                            " meter_name, meter_category, quantity, unit, amount, currency, ingested_at)"
                            " VALUES (:sub, :day, 'Compute', 'm1', 'VM', 'Compute', 1, 'Hours', :amount, 'USD', now())"
                        ),
                        {"sub": sub.id, "day": day, "amount": Decimal(index) + Decimal("0.5")},
                    )
            await rebuild_rollups(session)
    finally:
        await database.dispose()


async def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    database = Database.from_url(url, pool_size=1)
    try:
        async with database.engine.connect() as connection:
            return {
                table: [tuple(row) for row in await connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))]
                for table in partitions.PARENTS
            }
    finally:
        await database.dispose()


async def _layout(url: str) -> tuple[dict[str, str], set[date]]:
    database = Database.from_url(url, pool_size=1)
    try:
        async with database.engine.connect() as connection:
            kinds = await connection.execute(
                text("SELECT relname, relkind::text FROM pg_class WHERE relname = ANY(:names)"),
                {"names": list(partitions.PARENTS)},
            )
            found = {str(name): str(kind) for name, kind in kinds}
            months = (
                {item.month for item in await partitions.list_months(connection)} if "p" in found.values() else set()
            )
            if "p" not in found.values():
                leftover = await connection.execute(
                    text("SELECT count(*) FROM pg_class WHERE relname ~ CAST(:pattern AS text)"),
                    {"pattern": partitions.PARTITION_NAME},
                )
                assert leftover.scalar_one() == 0
            return found, months
    finally:
        await database.dispose()


async def _next_id(url: str) -> int:
    """A record inserted after the migration: its id continues the sequence."""
    database = Database.from_url(url, pool_size=1)
    try:
        async with database.engine.begin() as connection:
            inserted = await connection.execute(
                text(
                    "INSERT INTO usage_records (subscription_id, usage_date, service_name, meter_id, meter_name,"
                    " meter_category, quantity, unit, amount, currency, ingested_at)"
                    " SELECT subscription_id, usage_date, service_name, 'm2', meter_name, meter_category, quantity,"
                    " unit, amount, currency, ingested_at FROM usage_records ORDER BY id LIMIT 1 RETURNING id"
                )
            )
            return int(inserted.scalar_one())
    finally:
        await database.dispose()


def _command(monkeypatch: pytest.MonkeyPatch, database: Database, *args: str) -> int:
    url = database.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DPOR_DATABASE_URL", url)
    monkeypatch.setenv("DPOR_MIGRATION_DATABASE_URL", url)  # the owner's: the tests connect as it
    return cli.main(["partitions", *args])


def _cli(*args: str) -> int:
    return cli.main(list(args))


@on_postgresql
async def test_the_partitions_command_lists_archives_and_restores_a_month(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    await without_partitions(database, ARCHIVED)
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    async with database.write() as session:
        await ingest_usage(session, [record(world.subscriptions[0], "2025-08-10", amount="2.00")], today=TODAY)
    # The command runs its own event loop (asyncio.run); the test's loop is busy, so it runs in a thread.
    assert await asyncio.to_thread(_command, monkeypatch, database, "list") == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines() if "2025-08" in line]
    assert [line[:3] for line in listed] == [[table, "2025-08", "attached"] for table in partitions.PARENTS]
    assert await asyncio.to_thread(_command, monkeypatch, database, "detach", "2025-08") == 0
    assert "2025-08 detached" in capsys.readouterr().out
    assert await stored(database) == (0, Decimal(0))
    assert await asyncio.to_thread(_command, monkeypatch, database, "detach", "2025-08") == 1
    assert "2025-08 is not attached" in capsys.readouterr().err
    assert await asyncio.to_thread(_command, monkeypatch, database, "list") == 0
    assert "usage_records            2025-08  archived" in capsys.readouterr().out
    # A file with a line of the archived month stops at its batch, naming the month (exit status 1).
    path = tmp_path / "usage.csv"
    header = "subscription_id,usage_date,service,meter_id,meter_name,quantity,unit,amount,currency"
    path.write_text(f"{header}\n{world.subscriptions[0].external_id},2025-08-11,Compute,m1,VM,1,Hours,1,USD\n")
    assert await asyncio.to_thread(_cli, "ingest", "--quiet", str(path)) == 1
    assert "ingest: stopped: usage month 2025-08 is archived" in capsys.readouterr().err
    assert await asyncio.to_thread(_command, monkeypatch, database, "attach", "2025-08") == 0
    assert "2025-08 attached" in capsys.readouterr().out
    assert await stored(database) == (1, Decimal("2.00"))
    with pytest.raises(SystemExit):
        _command(monkeypatch, database, "detach", "August")
    assert "expected a month as YYYY-MM" in capsys.readouterr().err


@on_postgresql
async def test_the_sweep_keeps_this_month_and_three_ahead_ready(database: Database) -> None:
    ahead = partitions.months_ahead(date(2030, 1, 15))
    await without_partitions(database, *ahead)
    with clock.moved_to(lambda: datetime(2030, 1, 15, 12, tzinfo=UTC)):
        assert (await sweep(database)).partitions_created == len(ahead) * len(partitions.PARENTS)
        assert (await sweep(database)).partitions_created == 0
    made = await months(database)
    assert ahead == [date(2030, month, 1) for month in (1, 2, 3, 4)]
    assert all(made[(table, month)] for table in partitions.PARENTS for month in ahead)
