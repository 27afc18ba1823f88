"""Usage rollups: exact daily and monthly sums per subscription, service and currency, kept at write time.

Aggregates are served from these tables and never by scanning usage_records. Ingestion moves them by the
difference between the new and the replaced record (see resolvers/usage/rollups.py), so a corrected day is
never counted twice. A row whose record_count falls to zero is deleted in the same transaction, so a rollup
row exists exactly when some usage record stands behind it. There is no CHECK on record_count: the delta
upsert inserts negative deltas as rows before ON CONFLICT turns them into updates, and PostgreSQL checks the
proposed row first.

Why tenant_id is not copied into the rollups: the tenant filter resolves to that tenant's subscription ids
through ix_subscriptions_tenant_id_id, and each subscription's rollup rows are then one range of the primary
key (subscription_id first, then the date). A denormalized tenant_id would have to be kept right if a
subscription ever moved tenant, for a join the index already makes cheap.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.types import sum_decimal

# Every ingest updates rollup rows in place (a month's row once per batch, a day's once per correction). Free room
# in each page lets PostgreSQL make those heap-only (HOT) updates, which touch no index; full pages (the default)
# would add an entry to every index per update. Half a page (revision 0013_usage_ingest_writes; 0009 had 70): a batch
# updates every row of a page in one transaction, and at 70 fewer than half of a re-sent batch's were HOT. On
# PostgreSQL the tables are partitioned and the partitions carry it (usage_partitions_ensure).
_HOT_UPDATES = {"postgresql_with": {"fillfactor": 50}}


class UsageDailyRollup(Base):
    __tablename__ = "usage_daily_rollups"
    __table_args__ = (
        # Platform-wide windows (all subscriptions, a date range) read by date first.
        Index("ix_usage_daily_rollups_usage_date", "usage_date"),
        _HOT_UPDATES,
    )

    # The primary key leads with subscription_id, usage_date: the path of every scoped query.
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="RESTRICT"), primary_key=True
    )
    usage_date: Mapped[date] = mapped_column(Date, primary_key=True)
    service_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(sum_decimal())
    amount: Mapped[Decimal] = mapped_column(sum_decimal())
    record_count: Mapped[int] = mapped_column(Integer)


class UsageMonthlyRollup(Base):
    __tablename__ = "usage_monthly_rollups"
    # No index on month alone (revision 0015_rls_tenant_columns): on PostgreSQL a month partition holds one month,
    # so such an index ordered every row of it by one value and only led generic plans away from the primary key.
    __table_args__ = (_HOT_UPDATES,)

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="RESTRICT"), primary_key=True
    )
    # The first day of the month.
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    service_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(sum_decimal())
    amount: Mapped[Decimal] = mapped_column(sum_decimal())
    record_count: Mapped[int] = mapped_column(Integer)
