"""One rule for a usage file, whatever the backend and the batch size: the last line wins.

A later line with the natural key (subscription, usage date, meter) of an earlier one replaces it and counts as
replaced, as a re-sent file would; a rejected line replaces nothing. It used to depend on where the batch
boundaries fell: within a batch the later line was rejected as a duplicate, across batches it replaced the
earlier one, so SQLite (5,000-line batches) and PostgreSQL (one 50,000-line batch) stored different data from
the same file, and `--batch-size` changed the counts.

The property: for random files (few subscriptions, days and meters, so keys repeat; some bad lines; lines of an
unknown and of a deleted subscription; some keys already stored) and every batch size, the import's counts and
the stored records and rollups equal those of a line-by-line oracle.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from db.engine import Database
from db.enums import SubscriptionStatus
from db.models import Subscription, UsageDailyRollup, UsageMonthlyRollup, UsageRecord
from resolvers.usage.file_import import import_file
from resolvers.usage.ingestion import ingest_usage
from tests.conftest import empty_all_tables
from tests.usage_helpers import build_world, record

TODAY = date(2026, 11, 22)
HEADER = "subscription_id,usage_date,service,meter_id,meter_name,quantity,unit,amount,currency"
# Placeholders for the subscriptions of each run: two live ones, a deleted one, and one that does not exist.
LIVE, GONE, GHOST = ("S0", "S1"), "DELETED", "ghost"
DAYS = ("2026-02-27", "2026-02-28", "2026-03-01")
METERS = ("m1", "m2")
PRESTORED = (("S0", "2026-02-28", "m1"), ("S1", "2026-03-01", "m2"))

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Line:
    subscription: str
    day: str
    meter: str
    service: str
    amount: str
    bad: bool  # a negative quantity: refused by validation


def _random_file(rng: random.Random) -> list[Line]:
    lines = []
    for _ in range(rng.randint(5, 40)):
        subscription = rng.choice([*LIVE, *LIVE, GONE, GHOST])
        lines.append(
            Line(
                subscription,
                rng.choice(DAYS),
                rng.choice(METERS),
                rng.choice(("Compute", "Storage")),
                f"{rng.randint(-500, 5000) / 100:.2f}",
                rng.random() < 0.15,
            )
        )
    return lines


@dataclass
class Expected:
    inserted: int
    replaced: int
    rejected: int
    records: dict[Key, tuple[str, Decimal]]  # natural key -> (service, amount)


def _oracle(lines: list[Line]) -> Expected:
    records: dict[Key, tuple[str, Decimal]] = {key: ("Compute", Decimal("1.00")) for key in PRESTORED}
    inserted = replaced = rejected = 0
    for line in lines:
        if line.bad or line.subscription in (GONE, GHOST):
            rejected += 1
            continue
        key = (line.subscription, line.day, line.meter)
        if key in records:
            replaced += 1
        else:
            inserted += 1
        records[key] = (line.service, Decimal(line.amount))
    return Expected(inserted, replaced, rejected, records)


async def _world(database: Database) -> dict[str, str]:
    await empty_all_tables(database)
    world = await build_world(database, tenants=1, subscriptions=3, partners=0)
    names = dict(zip((*LIVE, GONE), (sub.external_id for sub in world.subscriptions), strict=True))
    names[GHOST] = "no-such-subscription"
    async with database.write() as session:
        await ingest_usage(
            session, [record(names[sub], day, meter=meter) for sub, day, meter in PRESTORED], today=TODAY
        )
        await session.execute(
            update(Subscription)
            .where(Subscription.external_id == names[GONE])
            .values(status=SubscriptionStatus.DELETED)
        )
    return names


def _write(path: Path, lines: list[Line], names: dict[str, str]) -> Path:
    rows = [
        f"{names[line.subscription]},{line.day},{line.service},{line.meter},VM,"
        f"{'-1' if line.bad else '1'},Hours,{line.amount},USD"
        for line in lines
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def _stored(database: Database, names: dict[str, str]) -> dict[Key, tuple[str, Decimal]]:
    placeholder = {external: name for name, external in names.items()}
    async with database.read() as session:
        rows = await session.execute(
            select(
                Subscription.external_id,
                UsageRecord.usage_date,
                UsageRecord.meter_id,
                UsageRecord.service_name,
                UsageRecord.amount,
            ).join(Subscription, Subscription.id == UsageRecord.subscription_id)
        )
        return {
            (placeholder[external], day.isoformat(), meter): (service, Decimal(amount))
            for external, day, meter, service, amount in rows
        }


async def _rollups_match(database: Database, records: dict[Key, tuple[str, Decimal]]) -> None:
    daily: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for (_sub, day, _meter), (service, amount) in records.items():
        daily[(day, service)][0] += amount
        daily[(day, service)][1] += 1
    async with database.read() as session:
        stored = await session.execute(
            select(UsageDailyRollup.usage_date, UsageDailyRollup.service_name, UsageDailyRollup.amount)
        )
        got: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for day, service, amount in stored:
            got[(day.isoformat(), service)] += Decimal(amount)
        monthly = await session.scalars(select(UsageMonthlyRollup.amount))
        assert sum(Decimal(amount) for amount in monthly) == sum(amount for amount, _count in daily.values())
    assert dict(got) == {key: amount for key, (amount, _count) in daily.items()}


@pytest.mark.parametrize("seed", range(6))
async def test_the_last_line_wins_whatever_the_batch_size(database: Database, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lines = _random_file(rng)
    # A key repeated on consecutive lines, so a batch of every size holds at least one repeat.
    lines += [
        Line("S0", "2026-03-01", "m1", "Compute", "7.00", False),
        Line("S0", "2026-03-01", "m1", "Storage", "8.00", False),
    ]
    expected = _oracle(lines)
    for batch_size in (None, 1, 2, 3, 7, 1_000):
        names = await _world(database)
        path = _write(tmp_path / f"usage-{batch_size}.csv", lines, names)
        summary = await import_file(database, path, batch_size=batch_size, today=TODAY)
        counts = (summary.inserted, summary.replaced, summary.rejected)
        assert counts == (expected.inserted, expected.replaced, expected.rejected), (seed, batch_size)
        assert await _stored(database, names) == expected.records, (seed, batch_size)
        await _rollups_match(database, expected.records)
