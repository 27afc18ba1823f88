"""Keeping the daily and monthly rollups exact: move them by deltas at write time, or rebuild them in bulk.

A write adds each new record's (quantity, amount, 1) to its rollup rows and subtracts the (quantity, amount,
1) of the record it replaces, if any. The increments are applied as one upsert per table whose UPDATE adds to
the stored value (`SET amount = rollup.amount + excluded.amount`), so two transactions moving the same row
both count: the database serializes the row update instead of one overwriting the other's read. Rows emptied
by a correction (record_count 0) are deleted in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Table, cast, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ColumnElement, Executable

from db.models import Subscription, UsageDailyRollup, UsageMonthlyRollup, UsageRecord

DAILY: Table = UsageDailyRollup.__table__  # type: ignore[assignment]
MONTHLY: Table = UsageMonthlyRollup.__table__  # type: ignore[assignment]
# Keys per IN (...) list: 4 parameters each stays under SQLite's and asyncpg's 32,767-parameter limits.
_KEYS_PER_STATEMENT = 2_000

RollupKey = tuple[uuid.UUID, date, str, str]  # subscription, day or first of month, service, currency


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one usage record adds to the rollups."""

    subscription_id: uuid.UUID
    usage_date: date
    service: str
    currency: str
    quantity: Decimal
    amount: Decimal


@dataclass(slots=True)
class Delta:
    quantity: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    record_count: int = 0

    def is_zero(self) -> bool:
        return self.record_count == 0 and self.quantity == 0 and self.amount == 0


@dataclass(slots=True)
class RollupDeltas:
    daily: dict[RollupKey, Delta]
    monthly: dict[RollupKey, Delta]


def compute_deltas(added: Iterable[Contribution], removed: Iterable[Contribution]) -> RollupDeltas:
    deltas = RollupDeltas(daily={}, monthly={})
    for sign, contributions in ((1, added), (-1, removed)):
        for item in contributions:
            day_key = (item.subscription_id, item.usage_date, item.service, item.currency)
            month_key = (item.subscription_id, item.usage_date.replace(day=1), item.service, item.currency)
            for table, key in ((deltas.daily, day_key), (deltas.monthly, month_key)):
                delta = table.setdefault(key, Delta())
                delta.quantity += sign * item.quantity
                delta.amount += sign * item.amount
                delta.record_count += sign
    return deltas


async def apply_deltas(session: AsyncSession, deltas: RollupDeltas) -> None:
    dialect = session.get_bind().dialect.name
    for table, changes in ((DAILY, deltas.daily), (MONTHLY, deltas.monthly)):
        moving = {key: delta for key, delta in changes.items() if not delta.is_zero()}
        if not moving:
            continue
        # Sorted: concurrent writers lock rollup rows in one order, so they queue instead of deadlocking.
        rows = [_row(table, key, delta) for key, delta in sorted(moving.items())]
        await session.execute(increment_upsert(dialect, table), rows)
        emptied = sorted(key for key, delta in moving.items() if delta.record_count < 0)
        await delete_emptied(session, table, emptied)


def increment_upsert(dialect: str, table: Table) -> Executable:
    """INSERT a delta row, or add it to the row already there."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    increments = {name: table.c[name] + insert.excluded[name] for name in ("quantity", "amount", "record_count")}
    keys = [column.name for column in table.primary_key.columns]
    return insert.on_conflict_do_update(index_elements=keys, set_=increments)


async def delete_emptied(session: AsyncSession, table: Table, keys: Sequence[RollupKey]) -> None:
    columns = tuple_(*table.primary_key.columns)
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[start : start + _KEYS_PER_STATEMENT]
        await session.execute(delete(table).where(table.c.record_count == 0, columns.in_(chunk)))


def _row(table: Table, key: RollupKey, delta: Delta) -> dict[str, Any]:
    period = "usage_date" if table is DAILY else "month"
    subscription_id, day, service, currency = key
    return {
        "subscription_id": subscription_id,
        period: day,
        "service_name": service,
        "currency": currency,
        "quantity": delta.quantity,
        "amount": delta.amount,
        "record_count": delta.record_count,
    }


def month_start(dialect: str, day: ColumnElement[date]) -> ColumnElement[date]:
    """The first day of `day`'s month, in SQL."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    return func.date(day, "start of month", type_=Date)


async def rebuild_rollups(executor: AsyncSession | AsyncConnection) -> None:
    """Recompute both rollups and every subscription's usage_data_as_of from usage_records, set-based.

    For after a bulk load that wrote usage_records directly. Run it in the load's transaction (or with writers
    stopped): it replaces the rollups wholesale.
    """
    dialect = (executor.get_bind() if isinstance(executor, AsyncSession) else executor).dialect.name
    usage: Table = UsageRecord.__table__  # type: ignore[assignment]
    await executor.execute(delete(MONTHLY))
    await executor.execute(delete(DAILY))
    daily_keys = (usage.c.subscription_id, usage.c.usage_date, usage.c.service_name, usage.c.currency)
    await executor.execute(
        DAILY.insert().from_select(
            [
                "subscription_id",
                "usage_date",
                "service_name",
                "currency",
                "quantity",
                "amount",
                "record_count",
            ],
            select(
                *daily_keys,
                func.sum(usage.c.quantity),
                func.sum(usage.c.amount),
                func.count(),
            ).group_by(*daily_keys),
        )
    )
    month = month_start(dialect, DAILY.c.usage_date)
    monthly_keys = (DAILY.c.subscription_id, month, DAILY.c.service_name, DAILY.c.currency)
    await executor.execute(
        MONTHLY.insert().from_select(
            ["subscription_id", "month", "service_name", "currency", "quantity", "amount", "record_count"],
            select(
                *monthly_keys,
                func.sum(DAILY.c.quantity),
                func.sum(DAILY.c.amount),
                func.sum(DAILY.c.record_count),
            ).group_by(*monthly_keys),
        )
    )
    subscriptions: Table = Subscription.__table__  # type: ignore[assignment]
    latest = select(func.max(usage.c.usage_date)).where(usage.c.subscription_id == subscriptions.c.id).scalar_subquery()
    await executor.execute(update(subscriptions).values(usage_data_as_of=latest))
