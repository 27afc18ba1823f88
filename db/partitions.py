"""The usage tables' monthly partitions on PostgreSQL (alembic revision 0009): made before a write, archived by
detaching, brought back by attaching.

usage_records, usage_daily_rollups and usage_monthly_rollups are partitioned by month, `<table>_pYYYY_MM`. The
gateway's role may not run DDL, so it asks `usage_partitions_ensure` (SECURITY DEFINER, owned by the migration
owner) for the months it is about to write; the sweep asks for the months ahead, so an ingest seldom creates one.
Archiving detaches one month from all three tables at once (a read then sees none of that month, not a rollup
without its records) and attaching brings all three back; both run as the owner (the `partitions` command). SQLite
keeps plain tables: ensuring does nothing there, and archiving is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import Date

# Partition column per partitioned table, in the order the function and the archive commands walk them.
PARENTS = {"usage_records": "usage_date", "usage_daily_rollups": "usage_date", "usage_monthly_rollups": "month"}
# A month partition's name, attached or archived (POSIX regex syntax: Python's and PostgreSQL's alike).
PARTITION_NAME = "^usage_(records|daily_rollups|monthly_rollups)_p[0-9]{4}_[0-9]{2}$"
# The SQLSTATE usage_partitions_ensure raises for a month that is archived (revision 0009).
ARCHIVED_SQLSTATE = "DP001"
# Months the sweep keeps ready beyond the current one.
AHEAD_MONTHS = 3

Executor = AsyncSession | AsyncConnection


class ArchivedMonth(Exception):
    """A write named a month whose partitions are detached: it would land nowhere reads look."""


class PartitionError(Exception):
    """An archive command that cannot do what it was asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class Month:
    """One month's partition of one table: attached, or detached (archived)."""

    table: str
    month: date
    attached: bool
    rows: int  # the planner's estimate (exact after ANALYZE); -1 when never analysed


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def months_ahead(today: date, ahead: int = AHEAD_MONTHS) -> list[date]:
    """The first days of today's month and of the `ahead` months after it."""
    months, month = [], first_of_month(today)
    for _ in range(ahead + 1):
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def is_partition_name(name: str) -> bool:
    return re.match(PARTITION_NAME, name) is not None


def months_between(first: date, last: date) -> list[date]:
    """The first days of every month from `first`'s to `last`'s, both included."""
    months = [first_of_month(first)]
    while months[-1] < first_of_month(last):
        months.append(months_ahead(months[-1], 1)[1])
    return months


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y_%m}"


def parse_month(value: str) -> date:
    """`YYYY-MM` as the first of that month; ValueError otherwise."""
    year, separator, month = value.partition("-")
    if not separator or len(year) != 4 or len(month) != 2:
        raise ValueError(f"expected a month as YYYY-MM, got {value!r}")
    return date(int(year), int(month), 1)


def _dialect(executor: Executor) -> str:
    bind = executor.get_bind() if isinstance(executor, AsyncSession) else executor
    return bind.dialect.name


async def ensure_months(executor: Executor, days: Iterable[date]) -> int:
    """Make the partitions of every month holding one of `days`; return how many were created (0 on SQLite).

    Raises ArchivedMonth for a month that is detached. A partition created here is part of the caller's
    transaction (gone if it rolls back), and its creation holds the usage tables' parents in SHARE UPDATE
    EXCLUSIVE mode and subscriptions in SHARE ROW EXCLUSIVE mode (the foreign key) until it ends.
    """
    months = sorted({first_of_month(day) for day in days})
    if not months or _dialect(executor) != "postgresql":
        return 0
    months_parameter = bindparam("months", months, type_=ARRAY(Date))
    return await _ensure(executor, text("SELECT usage_partitions_ensure(:months)").bindparams(months_parameter))


async def ensure_months_of(executor: Executor, days_query: str) -> int:
    """ensure_months for the days a SQL query returns (one date column): for batches staged in SQL. PostgreSQL."""
    return await _ensure(executor, text(f"SELECT usage_partitions_ensure(ARRAY({days_query}))"))


async def _ensure(executor: Executor, statement: object) -> int:
    try:
        created = (await executor.execute(statement)).scalar_one()  # type: ignore[call-overload]
    except DBAPIError as error:
        original = error.orig
        if getattr(original, "sqlstate", None) == ARCHIVED_SQLSTATE:
            # asyncpg's error (the adapter's cause) holds the function's message alone.
            cause = getattr(original, "__cause__", None)
            raise ArchivedMonth(getattr(cause, "message", None) or str(original)) from error
        raise
    return int(created)


async def list_months(connection: AsyncConnection) -> list[Month]:
    """Every month partition of the usage tables, attached or archived, by table then month."""
    _require_postgresql(connection)
    rows = await connection.execute(
        text(
            "SELECT c.relname, c.relispartition, c.reltuples::bigint FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
            " AND c.relname ~ :pattern"
        ),
        {"pattern": PARTITION_NAME},
    )
    months = []
    for name, attached, estimate in rows:
        table, _p, stamp = name.rpartition("_p")
        year, month = stamp.split("_")
        months.append(Month(table, date(int(year), int(month), 1), bool(attached), int(estimate)))
    order = list(PARENTS)
    return sorted(months, key=lambda item: (order.index(item.table), item.month))


async def detach(connection: AsyncConnection, month: date) -> None:
    """Archive `month`: its partitions leave all three tables in this transaction (ACCESS EXCLUSIVE on the
    parents, briefly). Each keeps a CHECK constraint of its range, so attaching it back need not scan it."""
    await _require_all(connection, month, attached=True)
    for table, column in PARENTS.items():
        name = partition_name(table, month)
        await connection.execute(text(f"ALTER TABLE {table} DETACH PARTITION {name}"))
        low, high = _bounds(month)
        await connection.execute(
            text(
                f"ALTER TABLE {name} ADD CONSTRAINT {name}_range"
                f" CHECK ({column} >= DATE '{low}' AND {column} < DATE '{high}')"
            )
        )


async def attach(connection: AsyncConnection, month: date) -> None:
    """Bring an archived `month` back into all three tables (SHARE UPDATE EXCLUSIVE on the parents: reads and
    writes go on). Its indexes and foreign key are the parents' again, matched by definition, not rebuilt."""
    await _require_all(connection, month, attached=False)
    for table in PARENTS:
        name = partition_name(table, month)
        low, high = _bounds(month)
        await connection.execute(
            text(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')")
        )
        await connection.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT IF EXISTS {name}_range"))


async def _require_all(connection: AsyncConnection, month: date, *, attached: bool) -> None:
    _require_postgresql(connection)
    found = {item.table: item.attached for item in await list_months(connection) if item.month == month}
    state = "attached" if attached else "archived (detached)"
    wrong = [table for table in PARENTS if found.get(table) is not attached]
    if wrong:
        raise PartitionError(f"{month:%Y-%m} is not {state} in {', '.join(wrong)}")


def _bounds(month: date) -> tuple[date, date]:
    return month, months_ahead(month, 1)[1]


def _require_postgresql(connection: AsyncConnection) -> None:
    if connection.dialect.name != "postgresql":
        raise PartitionError("usage is partitioned on PostgreSQL only; SQLite keeps plain tables")
