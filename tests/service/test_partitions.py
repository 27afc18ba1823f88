"""Usage partitioned by month (issue 16, alembic revision 0009, db/partitions.py): a month gets its partitions when
data first arrives, re-sent records still replace exactly, an archived (detached) month leaves every read and comes
back when attached, the migration carries rows over both ways, and a one-month read touches one month's partitions.
This module runs on both databases (SQLite keeps plain tables: the same writes, no partitions);
tests/service/test_partitions_postgresql.py holds PostgreSQL's own."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from db import partitions
from db.engine import Database
from db.models import UsageRecord
from gateway import cli
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.aggregates import usage_aggregates
from resolvers.usage.file_import import import_file
from resolvers.usage.ingestion import ingest_usage
from tests.usage_helpers import ALL, build_world, reach, record

TODAY = date(2026, 11, 22)
# Months no migration creates ahead (it makes the current month and three after): their partitions come from writes.
NEW_MONTH = date(2025, 5, 1)
FILE_MONTH = date(2025, 7, 1)


async def without_partitions(database: Database, *months: date) -> None:
    """The months' partitions dropped (the tables are empty): what a write finds before anyone made them."""
    if database.dialect != "postgresql":
        return
    async with database.engine.begin() as connection:
        for month in months:
            for table in partitions.PARENTS:
                await connection.execute(text(f"DROP TABLE IF EXISTS {partitions.partition_name(table, month)}"))


async def months(database: Database) -> dict[tuple[str, date], bool]:
    async with database.engine.connect() as connection:
        return {(item.table, item.month): item.attached for item in await partitions.list_months(connection)}


async def totals(database: Database, first: date, last: date) -> list[tuple[Any, ...]]:
    """Usage in [first, last] by month and service, as the aggregates read it (a platform administrator)."""
    async with database.read() as session:
        rows = await usage_aggregates(
            session, AggregateFilter(first, last), [GroupBy.MONTH, GroupBy.SERVICE], reach(ALL)
        )
    return sorted((row.month, row.service, row.amount, row.quantity) for row in rows)


async def stored(database: Database) -> tuple[int, Decimal]:
    async with database.read() as session:
        amount = func.sum(UsageRecord.amount, type_=UsageRecord.amount.type)
        count, total = (await session.execute(select(func.count(), amount).select_from(UsageRecord))).one()
    return int(count), Decimal(total or 0)


async def test_an_ingest_into_a_month_without_partitions_makes_them_and_still_replaces_exactly(
    database: Database, tmp_path: Path
) -> None:
    await without_partitions(database, NEW_MONTH, FILE_MONTH)
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0]
    first = [record(sub, "2025-05-03", meter="m1", amount="2.00"), record(sub, "2025-05-04", meter="m1")]
    async with database.write() as session:
        result = await ingest_usage(session, first, today=TODAY)
    assert (result.inserted, result.replaced) == (2, 0)
    if database.dialect == "postgresql":
        made = await months(database)
        assert all(made[(table, NEW_MONTH)] for table in partitions.PARENTS)
    again = [record(sub, "2025-05-03", meter="m1", amount="5.00", service="Storage")]
    async with database.write() as session:
        result = await ingest_usage(session, again, today=TODAY)
    assert (result.inserted, result.replaced) == (0, 1)
    assert await totals(database, NEW_MONTH, date(2025, 5, 31)) == [
        (NEW_MONTH, "Compute", Decimal("1.00"), Decimal("1")),
        (NEW_MONTH, "Storage", Decimal("5.00"), Decimal("1")),
    ]
    # The file import (COPY and set-based SQL on PostgreSQL) makes its batch's months the same way.
    path = tmp_path / "usage.csv"
    header = "subscription_id,usage_date,service,meter_id,meter_name,quantity,unit,amount,currency"
    lines = [f"{sub.external_id},2025-07-0{day},Compute,m1,VM,1,Hours,3.00,USD" for day in (1, 2)]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    for replaced in (0, 2):  # the same file twice: the second time every line replaces its record
        summary = await import_file(database, path, today=TODAY)
        assert (summary.inserted, summary.replaced, summary.rejected) == (2 - replaced, replaced, 0)
    assert await totals(database, FILE_MONTH, date(2025, 7, 31)) == [
        (FILE_MONTH, "Compute", Decimal("6.00"), Decimal("2"))
    ]
    assert await stored(database) == (4, Decimal("12.00"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_partitions_command_says_sqlite_has_none(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DPOR_DATABASE_URL", database_url)
    assert cli.main(["partitions", "list"]) == 1
    assert "partitioned on PostgreSQL only" in capsys.readouterr().err
