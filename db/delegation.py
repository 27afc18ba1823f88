"""Delegated admin relationships: a partner given admin rights on a customer tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, enum_column, new_id, utcnow
from db.enums import DelegationStatus
from db.types import UTCDateTime

if TYPE_CHECKING:
    from db.partner import Partner
    from db.tenant import Tenant

ACTIVE_DELEGATION = text("status = 'ACTIVE'")


class DelegatedAdminRelationship(Base):
    __tablename__ = "delegated_admin_relationships"
    __table_args__ = (
        CheckConstraint(
            "(status = 'ACTIVE' AND ended_at IS NULL) OR (status = 'ENDED' AND ended_at IS NOT NULL)",
            name="ended_consistently",
        ),
        Index(
            "uq_delegated_admin_relationships_active",
            "tenant_id",
            "partner_id",
            unique=True,
            sqlite_where=ACTIVE_DELEGATION,
            postgresql_where=ACTIVE_DELEGATION,
        ),
        Index("ix_delegated_admin_relationships_partner_tenant", "partner_id", "tenant_id"),
        # The expiry sweep (resolvers.sweep) reads the active relationships due to expire, earliest first.
        Index(
            "ix_delegated_admin_relationships_active_expiry",
            "expires_at",
            sqlite_where=ACTIVE_DELEGATION,
            postgresql_where=ACTIVE_DELEGATION,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    status: Mapped[DelegationStatus] = mapped_column(
        enum_column(DelegationStatus, "delegation_status"), default=DelegationStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the rights lapse by themselves (null: until ended). Whole seconds, as the admin links that end with the
    # relationship at this instant. From then on the partner holds no DELEGATED_ADMIN role (auth.scope), and the
    # sweep ends the relationship and its links with ended_at = valid_to = expires_at, whatever its lag.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(seconds=True))

    tenant: Mapped[Tenant] = relationship(lazy="raise")
    partner: Mapped[Partner] = relationship(lazy="raise")
