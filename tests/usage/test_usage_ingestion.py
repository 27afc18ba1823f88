"""ingest_usage: all-or-nothing batches, corrections that move rollups by the difference, freshness."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from db.engine import Database
from db.models import Subscription, UsageDailyRollup, UsageMonthlyRollup, UsageRecord
from resolvers.usage.ingestion import ingest_usage
from resolvers.usage.rollups import rebuild_rollups
from resolvers.usage.validation import MAX_BATCH_RECORDS, FieldProblem, UsageInputError
from tests.usage_helpers import build_world, record

TODAY = date(2026, 11, 22)


async def _daily(database: Database) -> list[tuple[Any, ...]]:
    async with database.read() as session:
        rows = await session.execute(
            select(
                UsageDailyRollup.usage_date,
                UsageDailyRollup.service_name,
                UsageDailyRollup.currency,
                UsageDailyRollup.quantity,
                UsageDailyRollup.amount,
                UsageDailyRollup.record_count,
            ).order_by(UsageDailyRollup.usage_date, UsageDailyRollup.service_name, UsageDailyRollup.currency)
        )
        return [tuple(row) for row in rows]


async def _monthly(database: Database) -> list[tuple[Any, ...]]:
    async with database.read() as session:
        rows = await session.execute(
            select(
                UsageMonthlyRollup.month,
                UsageMonthlyRollup.service_name,
                UsageMonthlyRollup.currency,
                UsageMonthlyRollup.quantity,
                UsageMonthlyRollup.amount,
                UsageMonthlyRollup.record_count,
            ).order_by(UsageMonthlyRollup.month, UsageMonthlyRollup.service_name, UsageMonthlyRollup.currency)
        )
        return [tuple(row) for row in rows]


async def _count(database: Database) -> int:
    async with database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(UsageRecord)) or 0)


async def test_a_batch_with_bad_records_writes_nothing_and_lists_every_problem(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0]
    batch = [
        record(sub, "2026-03-01"),
        record("no-such-subscription", "2026-03-01"),
        record(sub, "2026-02-30", meter="m2"),
        record(sub, "2026-03-01", meter="m3", quantity="-1"),
        record(sub, "2026-03-01", meter="m4", amount="1.1234567"),
        record(sub, "2026-03-01", meter="m5", currency="usd"),
        record(sub, "2026-03-01", meter="m6", currency="ABC"),
        record(sub, "2026-03-01", meter="x" * 65),
        record(sub, "2026-03-01"),  # the natural key of record 0 again
        record(sub, "2026-03-01", meter="m9", quantity="NaN", service=""),
        record(sub, "2026-11-24", meter="m10"),  # after tomorrow
    ]
    with pytest.raises(UsageInputError) as raised:
        async with database.write() as session:
            await ingest_usage(session, batch, today=TODAY)
    assert raised.value.code == "BAD_USER_INPUT"
    assert [(problem.index, problem.field) for problem in raised.value.problems] == [
        (1, "subscriptionId"),
        (2, "usageDate"),
        (3, "quantity"),
        (4, "amount"),
        (5, "currency"),
        (6, "currency"),
        (7, "meterId"),
        (8, "meterId"),
        (9, "service"),
        (9, "quantity"),
        (10, "usageDate"),
    ]
    assert raised.value.problems[6] == FieldProblem(7, "meterId", "must be at most 64 characters")
    assert "record 0" in raised.value.problems[7].message
    assert await _count(database) == 0
    assert await _daily(database) == []


async def test_trailing_zeros_beyond_six_digits_are_not_extra_precision(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    async with database.write() as session:
        await ingest_usage(session, [record(world.subscriptions[0], "2026-03-01", quantity="1.50000000")])
    assert (await _daily(database))[0][3] == Decimal("1.5")


async def test_more_than_5000_records_are_refused_before_anything_else(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0]
    batch = [record(sub, "2026-03-01", meter=f"m{index}") for index in range(MAX_BATCH_RECORDS + 1)]
    with pytest.raises(UsageInputError) as raised:
        async with database.write() as session:
            await ingest_usage(session, batch)
    assert [problem.field for problem in raised.value.problems] == ["records"]
    assert await _count(database) == 0


async def test_a_full_batch_of_5000_is_accepted(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    batch = [
        record(world.subscriptions[index % 2], date(2026, 1 + index % 3, 1 + index % 28), meter=f"m{index}")
        for index in range(MAX_BATCH_RECORDS)
    ]
    async with database.write() as session:
        result = await ingest_usage(session, batch)
    assert (result.inserted, result.replaced) == (MAX_BATCH_RECORDS, 0)
    assert sum(row[5] for row in await _daily(database)) == MAX_BATCH_RECORDS
    assert sum(row[4] for row in await _monthly(database)) == Decimal(MAX_BATCH_RECORDS)


async def test_a_correction_moves_the_rollups_by_the_difference(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0]
    first = [
        record(sub, "2026-03-01", meter="m1", quantity="2", amount="10.00"),
        record(sub, "2026-03-01", meter="m2", quantity="3", amount="5.50"),
        record(sub, "2026-03-02", meter="m1", quantity="1", amount="1.00", service="Storage"),
    ]
    async with database.write() as session:
        await ingest_usage(session, first)
    # The same day again with new values, one meter moved to another service, and one new meter.
    again = [
        record(sub, "2026-03-01", meter="m1", quantity="2.5", amount="12.25"),
        record(sub, "2026-03-02", meter="m1", quantity="4", amount="2.00", service="Network"),
        record(sub, "2026-03-02", meter="m3", quantity="1", amount="0.75"),
    ]
    async with database.write() as session:
        result = await ingest_usage(session, again)
    assert (result.inserted, result.replaced) == (1, 2)
    assert await _daily(database) == [
        (date(2026, 3, 1), "Compute", "USD", Decimal("5.5"), Decimal("17.75"), 2),
        (date(2026, 3, 2), "Compute", "USD", Decimal("1"), Decimal("0.75"), 1),
        # "Storage" on 2 March lost its only record and is gone, not left at zero.
        (date(2026, 3, 2), "Network", "USD", Decimal("4"), Decimal("2.00"), 1),
    ]
    assert await _monthly(database) == [
        (date(2026, 3, 1), "Compute", "USD", Decimal("6.5"), Decimal("18.50"), 3),
        (date(2026, 3, 1), "Network", "USD", Decimal("4"), Decimal("2.00"), 1),
    ]
    # Re-sending the corrected day unchanged counts nothing twice.
    before = (await _daily(database), await _monthly(database))
    async with database.write() as session:
        result = await ingest_usage(session, again)
    assert (result.inserted, result.replaced) == (0, 3)
    assert (await _daily(database), await _monthly(database)) == before
    assert await _count(database) == 4


async def test_rebuilding_the_rollups_reproduces_what_ingestion_kept(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    first, second = world.subscriptions
    async with database.write() as session:
        await ingest_usage(
            session, [record(first, f"2026-0{m}-0{d}", meter=f"m{m}{d}") for m in (1, 2) for d in (1, 2)]
        )
        await ingest_usage(session, [record(second, "2026-02-01", amount="7", currency="EUR")])
        await ingest_usage(session, [record(first, "2026-01-01", meter="m11", amount="3.5", service="Storage")])
    kept_daily, kept_monthly = await _daily(database), await _monthly(database)
    async with database.write() as session:
        await session.execute(update(Subscription).values(usage_data_as_of=None))
        await rebuild_rollups(session)
    assert await _daily(database) == kept_daily
    assert await _monthly(database) == kept_monthly
    async with database.read() as session:
        rows = await session.execute(select(Subscription.id, Subscription.usage_data_as_of))
        as_of = {row.id: row.usage_data_as_of for row in rows}
    assert as_of == {first.id: date(2026, 2, 2), second.id: date(2026, 2, 1)}


async def test_freshness_is_the_latest_day_ever_ingested(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    first, second = world.subscriptions
    async with database.write() as session:
        result = await ingest_usage(session, [record(first, "2026-03-05"), record(first, "2026-03-07", meter="b")])
    assert [(item.external_id, item.usage_data_as_of) for item in result.freshness] == [
        (first.external_id, date(2026, 3, 7))
    ]
    async with database.write() as session:
        # A late correction for an older day does not move freshness back.
        result = await ingest_usage(session, [record(first, "2026-03-01")])
    assert result.freshness[0].usage_data_as_of == date(2026, 3, 7)
    async with database.read() as session:
        rows = await session.execute(select(Subscription.id, Subscription.usage_data_as_of))
        as_of = {row.id: row.usage_data_as_of for row in rows}
    assert as_of == {first.id: date(2026, 3, 7), second.id: None}


async def test_concurrent_batches_on_the_same_rollup_rows_lose_nothing(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    first, second = world.subscriptions

    async def send(meter_prefix: str, amount: str) -> None:
        batch = [
            record(sub, "2026-03-01", meter=f"{meter_prefix}{index}", amount=amount)
            for sub in (first, second)
            for index in range(50)
        ]
        async with database.write() as session:
            await ingest_usage(session, batch)

    # Distinct meters (pure increments) and the same meters (corrections) racing on the same rollup rows.
    await asyncio.gather(send("a", "1"), send("b", "2"), send("a", "3"), send("b", "4"))
    async with database.read() as session:
        stored = (await session.execute(select(func.sum(UsageRecord.amount), func.count()))).one()
    daily = await _daily(database)
    # Whichever batch committed last for a meter holds it, and the rollups agree with exactly that.
    assert stored[1] == 200
    assert (sum(row[4] for row in daily), sum(row[5] for row in daily)) == (stored[0], 200)
    assert stored[0] in {Decimal(100 * a + 100 * b) for a in (1, 3) for b in (2, 4)}
