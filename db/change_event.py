"""The transactional outbox (issue 15): one change event per change a partner or a tenant may be told of, written
in the transaction of the change itself (resolvers/change_events.py), so nothing is published that did not commit
and nothing that committed is lost.

Two numbers order events. `position` is the write order (an autoincrement key, allocated at INSERT). It is not the
commit order: two transactions in flight may commit in the opposite order of their positions, and a reader that
read "everything after position n" could skip a late commit below n. `sequence` is the publication order, given
by the sequencer (resolvers/webhooks/sequencer.py) to committed events only, in position order, under one row lock
(`ChangeEventSequencer`), so it grows without gaps in the order readers first see events: a reader that has seen
everything up to sequence n has missed nothing below it. Webhook deliveries are ordered by it, and GraphQL
subscriptions (later) read it as their cursor. The mutation itself pays one INSERT, no lock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, new_id, utcnow
from db.types import UTCDateTime

# SQLite gives an autoincrement key only to INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_POSITION = BigInteger().with_variant(Integer(), "sqlite")
UNSEQUENCED = text("sequence IS NULL")


class ChangeEvent(Base):
    __tablename__ = "change_events"
    __table_args__ = (
        # The sequencer's work list: committed events not yet given a sequence, in write order.
        Index("ix_change_events_unsequenced", "position", sqlite_where=UNSEQUENCED, postgresql_where=UNSEQUENCED),
        Index("ix_change_events_tenant_sequence", "tenant_id", "sequence"),
        # Retention (resolvers/retention.py): the oldest events first.
        Index("ix_change_events_occurred_at", "occurred_at"),
    )

    position: Mapped[int] = mapped_column(_POSITION, primary_key=True, autoincrement=True)
    # The event's identity towards receivers (webhook-id), the same on every retry and redelivery.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    # Null until the sequencer has published it.
    sequence: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # One of resolvers.change_events.EVENT_TYPES.
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The audit event it was derived from (no foreign key: as audit events, the outbox outlives what it describes).
    audit_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The audiences and their copies: the tenant's (None: the tenant is not told), and each concerned partner's,
    # keyed by the partner's id (hex). A partner's copy never carries personal data (resolvers.change_events).
    tenant_payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    partner_payloads: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ChangeEventSequencer(Base):
    """One row: the last sequence given. The sequencer locks it (FOR UPDATE SKIP LOCKED), so one sequencer runs at
    a time across every process, and mutations never touch it."""

    __tablename__ = "change_event_sequencer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
