"""Partner associations: which partner contributes to a subscription, of which type, over which interval.

History is never deleted. A change ends the active row (valid_to, ended_by, end_reason) and starts a new one.
Intervals are half-open [valid_from, valid_to), second precision, valid_to NULL while active.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, enum_column, new_id
from db.enums import AssociationEndReason, AssociationStatus, AssociationType, RecognitionRole
from db.types import UTCDateTime

if TYPE_CHECKING:
    from db.partner import Partner
    from db.subscription import Subscription

# On PostgreSQL the rows also carry `tenant_id`, their subscription's tenant, filled by a trigger on insert and read
# only by the row-level security policy (alembic revision 0015_rls_tenant_columns): not mapped here, as SQLite has
# no policies and no writer must set it.
ROW_SECURITY_COLUMNS = frozenset({("partner_associations", "tenant_id")})

ACTIVE = text("valid_to IS NULL")
ACTIVE_DPOR = text("valid_to IS NULL AND type = 'DIGITAL_PARTNER_OF_RECORD'")
PENDING = text("status = 'PENDING'")


class PartnerAssociation(Base):
    __tablename__ = "partner_associations"
    __table_args__ = (
        # >=: an association replaced within the second it started is an empty interval [t, t): kept as history,
        # attributed nothing.
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_interval"),
        CheckConstraint(
            "(valid_to IS NULL AND end_reason IS NULL AND ended_by IS NULL)"
            " OR (valid_to IS NOT NULL AND end_reason IS NOT NULL AND ended_by IS NOT NULL)",
            name="ended_consistently",
        ),
        # The invariant of the product: at most one active Digital Partner of Record per subscription.
        Index(
            "uq_partner_associations_active_dpor",
            "subscription_id",
            unique=True,
            sqlite_where=ACTIVE_DPOR,
            postgresql_where=ACTIVE_DPOR,
        ),
        # And never the same partner twice in the same active role.
        Index(
            "uq_partner_associations_active_partner_type",
            "subscription_id",
            "partner_id",
            "type",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        Index("ix_partner_associations_subscription_valid_from", "subscription_id", "valid_from"),
        Index("ix_partner_associations_partner_type_valid_from", "partner_id", "type", "valid_from"),
        # A claim is PENDING until its decline window ends (decline_by), DECLINED only as the customer declined it.
        CheckConstraint(
            "(status = 'PENDING' AND decline_by IS NOT NULL) OR status = 'ACTIVE'"
            " OR (status = 'DECLINED' AND end_reason = 'CUSTOMER_DECLINED')",
            name="status_consistently",
        ),
        # The sweep ripens the pending claims whose window has passed, and the owner lists those still open.
        Index(
            "ix_partner_associations_pending_decline_by", "decline_by", sqlite_where=PENDING, postgresql_where=PENDING
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id", ondelete="RESTRICT"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    type: Mapped[AssociationType] = mapped_column(enum_column(AssociationType, "association_type"))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(seconds=True))
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime(seconds=True))
    # Actors are token subjects: who acted is kept even if the identity provider later forgets them.
    created_by: Mapped[str] = mapped_column(String(256))
    ended_by: Mapped[str | None] = mapped_column(String(256))
    # The role the actor acted in and its OAuth client: what a caller outside the tenant may know of the actor (a
    # subject may be an e-mail address). Null on rows written before revision 0003 and on bulk-loaded rows.
    created_by_role: Mapped[str | None] = mapped_column(String(32))
    created_by_client_id: Mapped[str | None] = mapped_column(String(256))
    ended_by_role: Mapped[str | None] = mapped_column(String(32))
    ended_by_client_id: Mapped[str | None] = mapped_column(String(256))
    end_reason: Mapped[AssociationEndReason | None] = mapped_column(
        enum_column(AssociationEndReason, "association_end_reason")
    )
    # The recognition the partner is given for the subscription, when the link or claim named one (revision 0004);
    # usage attribution can be grouped by it.
    recognition_role: Mapped[RecognitionRole | None] = mapped_column(enum_column(RecognitionRole, "recognition_role"))
    # Attribution counts ACTIVE rows only (resolvers/usage/conditions.py). Every row before revision 0004 is ACTIVE,
    # and so is each row loaded in bulk without the column (the server default).
    status: Mapped[AssociationStatus] = mapped_column(
        enum_column(AssociationStatus, "association_status"),
        default=AssociationStatus.ACTIVE,
        server_default=AssociationStatus.ACTIVE.value,
    )
    # A claim's (resolvers/claims.py): until when its customer may decline it, what it is for, and the partner's
    # evidence (at most 4 KB). Null on every other row.
    decline_by: Mapped[datetime | None] = mapped_column(UTCDateTime(seconds=True))
    claim_workload: Mapped[str | None] = mapped_column(String(256))
    claim_evidence: Mapped[str | None] = mapped_column(Text)

    # lazy="raise": loading is explicit (selectinload or DataLoaders), so an N+1 cannot sneak in.
    subscription: Mapped[Subscription] = relationship(lazy="raise")
    partner: Mapped[Partner] = relationship(lazy="raise")
