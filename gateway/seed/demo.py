"""The demo dataset: a few realistic tenants, partners and subscriptions, loaded by `make run` on first start.

Ids are fixed constants, defined with the data in gateway/seed/demo_data.py and exported here
(DEMO_OWNER_TENANT_EXTERNAL_ID, DEMO_PARTNER_MPN_ID, DEMO_DELEGATED_PARTNER_MPN_ID, ...), so a dev token
minted from them works against the demo data on any machine. Times are relative to the day of loading: usage
covers the 13 months ending yesterday (UTC), and the partner-of-record changes fall inside that window, at
whole seconds as association intervals are stored.

What it shows: DPOR histories of every kind (kept since before the window, replaced mid-window, replaced
twice, removed by the owner, never set), the other association types, an active and an ended delegated admin
relationship, the audit events those changes left, and usage in three currencies.

This module loads it (once, in one transaction) and is its public face. The parts: demo_model.py (the shapes of
the story), demo_data.py (the story), demo_rows.py (its rows, table by table), demo_audit.py (the audit events).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db import partitions
from db.engine import Database
from db.models import (
    AuditEvent,
    DelegatedAdminRelationship,
    Partner,
    PartnerAssociation,
    Subscription,
    Tenant,
    TenantContact,
    UsageRecord,
)
from db.row_security import SystemTask, system
from gateway.seed import demo_rows
from gateway.seed.bulk import BulkWriter, Row, table_of
from gateway.seed.demo_audit import audit_rows
from gateway.seed.demo_data import (
    DEMO_DELEGATED_PARTNER_MPN_ID,
    DEMO_OWNER_TENANT_EXTERNAL_ID,
    DEMO_PARTNER_MPN_ID,
    DEMO_PARTNER_MPN_IDS,
    DEMO_SUBSCRIPTION_EXTERNAL_IDS,
    DEMO_TENANT_EXTERNAL_IDS,
)
from gateway.seed.demo_rows import NAMESPACE, USAGE_SEED
from gateway.seed.rows import (
    ASSOCIATION_COLUMNS,
    AUDIT_COLUMNS,
    CONTACT_COLUMNS,
    DELEGATION_COLUMNS,
    PARTNER_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    TENANT_COLUMNS,
)
from gateway.seed.usage import COLUMNS as USAGE_COLUMNS
from gateway.seed.usage import UsageRows
from resolvers.usage.rollups import rebuild_rollups

__all__ = [
    "DEMO_DELEGATED_PARTNER_MPN_ID",
    "DEMO_OWNER_TENANT_EXTERNAL_ID",
    "DEMO_PARTNER_MPN_ID",
    "DEMO_PARTNER_MPN_IDS",
    "DEMO_SUBSCRIPTION_EXTERNAL_IDS",
    "DEMO_TENANT_EXTERNAL_IDS",
    "NAMESPACE",
    "DemoSummary",
    "demo_present",
    "load_demo",
    "usage_window",
]

MONTHS_OF_USAGE = 13


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What `load_demo` did; `loaded` is False when the demo data was there already (nothing written)."""

    loaded: bool
    rows: dict[str, int]
    first_day: date | None = None
    last_day: date | None = None


def usage_window(today: date) -> tuple[date, date]:
    """The first and last day of usage: the 13 months that end yesterday."""
    months = today.year * 12 + today.month - 1 - MONTHS_OF_USAGE
    year, month = divmod(months, 12)
    first = date(year, month + 1, 1)
    # Same day of the month 13 months back, or that month's last day when it is shorter.
    day = min(today.day, ((first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day)
    return first.replace(day=day), today - timedelta(days=1)


async def _present(connection: AsyncConnection) -> bool:
    found = await connection.scalar(
        select(table_of(Tenant).c.id).where(table_of(Tenant).c.external_id == DEMO_OWNER_TENANT_EXTERNAL_ID)
    )
    return found is not None


async def demo_present(database: Database) -> bool:
    async with database.acting(system(SystemTask.SEED)).read() as session:
        return await _present(await session.connection())


async def load_demo(database: Database, *, today: date | None = None) -> DemoSummary:
    """Load the demo dataset in one transaction, unless it is already there."""
    today = today or datetime.now(UTC).date()
    first_day, last_day = usage_window(today)
    async with database.acting(system(SystemTask.SEED)).write() as session:
        connection = await session.connection()
        # Checked inside the write transaction: on SQLite it holds the write lock; on PostgreSQL a concurrent
        # loader fails on the unique external ids instead of loading twice.
        if await _present(connection):
            return DemoSummary(loaded=False, rows={})
        writer = await BulkWriter.open(connection)
        rows: dict[str, int] = {}
        for table, columns, generated in _tables(first_day, last_day):
            rows[table.name] = await writer.insert(table, columns, generated)
        usage = UsageRows(writer, first_day=first_day, days=(last_day - first_day).days + 1, seed=USAGE_SEED)
        await partitions.ensure_months(connection, partitions.months_between(first_day, last_day))
        rows[UsageRecord.__tablename__] = await writer.insert_fragments(
            table_of(UsageRecord), USAGE_COLUMNS, demo_rows.usage_rows(usage)
        )
        # Usage was written directly, not through ingestion: derive the rollups (and freshness) from it, in the
        # same transaction, so aggregates see the demo and later imports move the rollups by exact deltas.
        await rebuild_rollups(connection)
    return DemoSummary(loaded=True, rows=rows, first_day=first_day, last_day=last_day)


def _tables(first_day: date, last_day: date) -> Iterator[tuple[Table, tuple[str, ...], Iterator[Row]]]:
    yield table_of(Tenant), TENANT_COLUMNS, demo_rows.tenant_rows(first_day)
    yield table_of(TenantContact), CONTACT_COLUMNS, demo_rows.contact_rows(first_day)
    yield table_of(Partner), PARTNER_COLUMNS, demo_rows.partner_rows(first_day)
    yield table_of(DelegatedAdminRelationship), DELEGATION_COLUMNS, demo_rows.delegation_rows(first_day)
    yield table_of(Subscription), SUBSCRIPTION_COLUMNS, demo_rows.subscription_rows(first_day, last_day)
    yield table_of(PartnerAssociation), ASSOCIATION_COLUMNS, demo_rows.association_rows(first_day)
    yield table_of(AuditEvent), AUDIT_COLUMNS, audit_rows(first_day)
