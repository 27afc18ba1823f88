"""DPOR invitations: a partner's offer, by an opaque code, to become the Digital Partner of Record of a tenant's
subscriptions when the tenant's owner accepts it.

The code itself is never stored, only its SHA-256 (`code_hash`): the partner is shown the code once, and a reader of
this table (or of a backup) cannot redeem anything. A code is looked up by its hash through the unique index, so
the lookup's cost does not depend on how close a guess was.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, new_id
from db.types import UTCDateTime


class DporInvitation(Base):
    __tablename__ = "dpor_invitations"
    __table_args__ = (
        CheckConstraint("length(code_hash) = 64", name="code_hash_sha256"),
        CheckConstraint("max_redemptions IS NULL OR max_redemptions >= 1", name="max_redemptions_positive"),
        # The backstop behind the row lock every acceptance takes: max_redemptions holds even if a writer forgot it.
        CheckConstraint(
            "redemptions >= 0 AND (max_redemptions IS NULL OR redemptions <= max_redemptions)",
            name="redemptions_within_max",
        ),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        # A partner's list, newest first.
        Index("ix_dpor_invitations_partner_created", "partner_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    # Hex SHA-256 of the code (resolvers/invitations/codes.py); the code is never stored.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    message: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(seconds=True))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(seconds=True))
    # None: any number of acceptances until it expires or is revoked.
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(seconds=True))
