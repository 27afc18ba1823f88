"""Subscriptions a tenant holds."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, enum_column, new_id, utcnow
from db.enums import Offer, SubscriptionStatus
from db.types import UTCDateTime

if TYPE_CHECKING:
    from db.tenant import Tenant


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("length(display_name) > 0", name="display_name_not_empty"),
        Index("ix_subscriptions_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    offer: Mapped[Offer] = mapped_column(enum_column(Offer, "offer"))
    display_name: Mapped[str] = mapped_column(String(256))
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Bumped on every partner-of-record change; callers send it back as expectedVersion (optimistic concurrency).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The latest usage day ingested, so "no usage" can be told from "not reported yet".
    usage_data_as_of: Mapped[date | None] = mapped_column(Date)

    tenant: Mapped[Tenant] = relationship(lazy="raise")
