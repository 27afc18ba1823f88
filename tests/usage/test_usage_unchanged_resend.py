"""A re-sent record equal to the stored one is left as it is: it counts as replaced, as before, but its row is not
rewritten (no new row version, no WAL), so its ingested_at keeps the time its values arrived; a changed one is
rewritten. On both write paths (the API's upsert and the file import's COPY path) and both backends."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import Database
from db.models import UsageDailyRollup, UsageRecord
from resolvers.usage.file_import import import_file
from resolvers.usage.ingestion import ingest_usage
from tests.usage_helpers import build_world, record

TODAY = date(2026, 11, 22)
DAYS = ("2026-11-02", "2026-11-03")
HEADER = "subscription_id,usage_date,service,meter_id,meter_name,quantity,unit,amount,currency"


async def _stored(database: Database) -> dict[tuple[date, str], tuple[Decimal, datetime]]:
    async with database.read() as session:
        rows = await session.execute(select(UsageRecord.usage_date, UsageRecord.amount, UsageRecord.ingested_at))
        return {(day, "meter-1"): (amount, at) for day, amount, at in rows}


async def _daily(database: Database) -> list[tuple[date, Decimal, int]]:
    async with database.read() as session:
        rows = await session.execute(
            select(UsageDailyRollup.usage_date, UsageDailyRollup.amount, UsageDailyRollup.record_count).order_by(
                UsageDailyRollup.usage_date
            )
        )
        return [(day, amount, count) for day, amount, count in rows]


@pytest.mark.parametrize("path", ["api", "file"])
async def test_an_unchanged_re_sent_record_is_not_rewritten(database: Database, tmp_path: Path, path: str) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    subscription = world.subscriptions[0]

    async def send(amounts: tuple[str, str]) -> tuple[int, int]:
        if path == "api":
            batch = [record(subscription, day, amount=amount) for day, amount in zip(DAYS, amounts, strict=True)]
            async with database.write() as session:
                result = await ingest_usage(session, batch, today=TODAY)
            return result.inserted, result.replaced
        lines = [
            f"{subscription.external_id},{day},Compute,meter-1,meter-1 name,1,Hours,{amount},USD"
            for day, amount in zip(DAYS, amounts, strict=True)
        ]
        file = tmp_path / "usage.csv"
        file.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
        summary = await import_file(database, file, today=TODAY)
        return summary.inserted, summary.replaced

    assert await send(("1.00", "2.00")) == (2, 0)
    first = await _stored(database)
    await asyncio.sleep(0.01)  # a rewrite would stamp a later ingested_at
    # The same values again: replaced, as before, and nothing rewritten.
    assert await send(("1.00", "2.00")) == (0, 2)
    assert await _stored(database) == first
    # One changed, one not: only the changed row is rewritten; the rollups follow the values.
    assert await send(("1.00", "5.00")) == (0, 2)
    again = await _stored(database)
    day_1, day_2 = ((date.fromisoformat(day), "meter-1") for day in DAYS)
    assert again[day_1] == first[day_1]
    assert again[day_2][0] == Decimal("5.00") and again[day_2][1] > first[day_2][1]
    assert await _daily(database) == [
        (date.fromisoformat(DAYS[0]), Decimal("1.00"), 1),
        (date.fromisoformat(DAYS[1]), Decimal("5.00"), 1),
    ]
