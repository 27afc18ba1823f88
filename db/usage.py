"""Daily usage and consumption records, one per subscription, day and meter."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, utcnow
from db.types import UTCDateTime, record_decimal

if TYPE_CHECKING:
    from db.subscription import Subscription

# On PostgreSQL these references are triggers, not foreign keys (alembic revisions 0011_usage_subscription_checks and
# 0013_usage_ingest_writes): checked once per statement over all its rows, set-based, as the bulk ingest's rate needs.
# The models keep the ForeignKeys: the relationship and SQLite use them, and the check guarantees the same.
TRIGGER_CHECKED_FOREIGN_KEYS = frozenset(
    {
        "fk_usage_records_subscription_id_subscriptions",
        "fk_usage_daily_rollups_subscription_id_subscriptions",
        "fk_usage_monthly_rollups_subscription_id_subscriptions",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        # The natural key: re-ingesting a day replaces it instead of counting it twice.
        UniqueConstraint("subscription_id", "usage_date", "meter_id", name="uq_usage_records_natural_key"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("length(currency) = 3 AND upper(currency) = currency", name="currency_iso4217"),
        # No index on usage_date alone (revision 0013_usage_ingest_writes): no query reads through one, and every
        # written row paid for it. On PostgreSQL the partitions keep half of each page free (fillfactor 50, set on
        # the partitions: a partitioned parent has no storage) so that a re-sent record is a heap-only update.
    )

    # On PostgreSQL the table is partitioned by month of usage_date (revision 0009, db/partitions.py), and a
    # partitioned table's keys must hold the partition column: there the primary key is (id, usage_date), id
    # still unique alone as one sequence numbers every row. SQLite keeps id alone (its rowid).
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id", ondelete="RESTRICT"))
    usage_date: Mapped[date] = mapped_column(Date)
    service_name: Mapped[str] = mapped_column(String(128))
    meter_id: Mapped[str] = mapped_column(String(64))
    meter_name: Mapped[str] = mapped_column(String(256))
    meter_category: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[Decimal] = mapped_column(record_decimal())
    unit: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(record_decimal())
    currency: Mapped[str] = mapped_column(String(3))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    subscription: Mapped[Subscription] = relationship(lazy="raise")
