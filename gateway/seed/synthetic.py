"""Synthetic datasets of any size, for load tests and benchmarks: `dpor-gateway seed --tenants N ...`.

Everything is a pure function of (seed, index): tenant i, partner k and subscription (i, j) are derived from
their own random stream, so each table is generated in one streaming pass without keeping earlier tables in
memory, and the same seed always gives the same rows (ids included).

Shape per subscription: one current Digital Partner of Record with probability 0.8; 0-2 earlier DPOR stints
that ended inside the window (REPLACED, or REMOVED_BY_OWNER when no current one follows); now and then a
transacting partner, a partner admin link or an unlinked claim; and daily usage for every day of the window on
`meters_per_day` distinct meters of its offer.

This module loads the dataset (one transaction, the post-load hooks, ANALYZE) and reports what it wrote. The
parts: synthetic_spec.py (the size and shape asked for), synthetic_names.py (the names and weights drawn from),
synthetic_draws.py (each tenant and subscription from its own random stream), synthetic_rows.py (the rows per
table).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db import partitions
from db.engine import Database
from db.models import (
    DelegatedAdminRelationship,
    Partner,
    PartnerAssociation,
    Subscription,
    Tenant,
    TenantContact,
    UsageRecord,
)
from db.row_security import SystemTask, system
from gateway.seed import synthetic_rows
from gateway.seed.bulk import BulkWriter, Row, table_of
from gateway.seed.deferred import constraints_deferred
from gateway.seed.demo_data import DEMO_TENANT_EXTERNAL_IDS
from gateway.seed.rows import (
    ASSOCIATION_COLUMNS,
    CONTACT_COLUMNS,
    DELEGATION_COLUMNS,
    PARTNER_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    TENANT_COLUMNS,
)
from gateway.seed.synthetic_spec import SyntheticSpec
from gateway.seed.usage import COLUMNS as USAGE_COLUMNS
from gateway.seed.usage import UsageRows
from resolvers.usage.rollups import rebuild_rollups

# The loader's public face: the CLI, the benchmark and the tests import the spec from here with the loader.
__all__ = [
    "POST_LOAD_HOOKS",
    "LoadReport",
    "NotEmptyError",
    "PostLoadHook",
    "SyntheticSpec",
    "analyze",
    "load_synthetic",
]

PostLoadHook = Callable[[AsyncConnection], Awaitable[None]]
# Statements that derive tables from the rows just loaded (usage rollups), run in the load's transaction after
# the last bulk insert. Set-based (INSERT ... SELECT ... GROUP BY), so they cost one pass over the data.
POST_LOAD_HOOKS: tuple[PostLoadHook, ...] = (rebuild_rollups,)


@dataclass(frozen=True, slots=True)
class LoadReport:
    rows: dict[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def lines(self) -> list[str]:
        width = max(len(name) for name in self.rows)
        lines = [f"  {name:<{width}}  {count:>12,}" for name, count in self.rows.items()]
        rate = self.total_rows / self.seconds if self.seconds > 0 else 0.0
        lines.append(f"{self.total_rows:,} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)")
        return lines


class NotEmptyError(Exception):
    """The database holds tenants besides the demo's: synthetic ids would collide with an earlier load."""


async def _refuse_unless_fresh(connection: AsyncConnection) -> None:
    tenants = table_of(Tenant)
    others = await connection.scalar(
        select(func.count()).select_from(tenants).where(tenants.c.external_id.not_in(DEMO_TENANT_EXTERNAL_IDS))
    )
    if others:
        raise NotEmptyError(
            f"the database already holds {others} tenants besides the demo's;"
            " load synthetic data into a freshly migrated database"
        )


async def analyze(database: Database) -> None:
    """Refresh planner statistics after a bulk load, so the first queries do not plan for empty tables."""
    async with database.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()


async def load_synthetic(
    database: Database,
    spec: SyntheticSpec,
    *,
    post_load: Sequence[PostLoadHook] = POST_LOAD_HOOKS,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load the dataset `spec` describes in one transaction: all of it, or (on any error) none of it."""
    started = time.perf_counter()

    def step(message: str) -> None:
        if progress is not None:
            progress(f"{time.perf_counter() - started:8.1f} s  {message}")

    rows: dict[str, int] = {}
    async with database.acting(system(SystemTask.SEED)).write() as session:
        connection = await session.connection()
        await _refuse_unless_fresh(connection)
        writer = await BulkWriter.open(connection)
        plan: list[tuple[Table, Sequence[str], Iterator[Row]]] = [
            (table_of(Tenant), TENANT_COLUMNS, synthetic_rows.tenant_rows(spec)),
            (table_of(TenantContact), CONTACT_COLUMNS, synthetic_rows.contact_rows(spec)),
            (table_of(Partner), PARTNER_COLUMNS, synthetic_rows.partner_rows(spec)),
            (table_of(DelegatedAdminRelationship), DELEGATION_COLUMNS, synthetic_rows.delegation_rows(spec)),
            (table_of(Subscription), SUBSCRIPTION_COLUMNS, synthetic_rows.subscription_rows(spec)),
            (table_of(PartnerAssociation), ASSOCIATION_COLUMNS, synthetic_rows.association_rows(spec)),
        ]
        for table, columns, generated in plan:
            rows[table.name] = await writer.insert(table, columns, generated)
            step(f"{table.name}: {rows[table.name]:,} rows")
        usage = UsageRows(writer, first_day=spec.first_day, days=spec.days, seed=str(spec.seed))
        await partitions.ensure_months(connection, partitions.months_between(spec.first_day, spec.end_date))
        usage_table = table_of(UsageRecord)
        async with constraints_deferred(connection, usage_table):
            rows[usage_table.name] = await writer.insert_fragments(
                usage_table, USAGE_COLUMNS, synthetic_rows.usage_rows(spec, usage)
            )
            step(f"{usage_table.name}: {rows[usage_table.name]:,} rows")
        step(f"{usage_table.name}: indexes and foreign key in place")
        for hook in post_load:
            await hook(connection)
        if post_load:
            step("post-load hooks done")
    step("committed")
    await analyze(database)
    step("analyzed")
    return LoadReport(rows, time.perf_counter() - started)
