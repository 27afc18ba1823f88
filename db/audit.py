"""Audit events: one per mutation, written in the mutation's own transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, new_id, utcnow
from db.types import UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant_occurred", "tenant_id", "occurred_at"),
        Index("ix_audit_events_subscription_occurred", "subscription_id", "occurred_at"),
        Index("ix_audit_events_occurred", "occurred_at"),
        Index("ix_audit_events_correlation_id", "correlation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    request_id: Mapped[str] = mapped_column(String(64))
    # The batch a change belongs to: every event of one bulk mutation carries the same id (null: a single change).
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    actor_subject: Mapped[str] = mapped_column(String(256))
    actor_role: Mapped[str] = mapped_column(String(40))
    actor_client_id: Mapped[str | None] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(64))
    # Scope columns (no foreign keys: an audit trail outlives what it describes) used by the policy's row filters.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
