"""Webhook endpoints and their deliveries (issue 15).

An endpoint belongs to one partner (told of its own events) or one tenant (told of the tenant's events); its
secret (Standard Webhooks `whsec_` + base64) signs every delivery. The secret is kept as is because signing needs
it (an HMAC key cannot be stored hashed); it is shown to its owner once, when created or rotated.

A delivery is one (endpoint, event) pair: the queue (status PENDING, `next_attempt_at`, a lease) and the log
(attempts, the last response's status code and latency) in one row (resolvers/webhooks/delivery.py).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, enum_column, new_id, utcnow
from db.types import UTCDateTime

PENDING = text("status = 'PENDING'")


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint("(tenant_id IS NULL) <> (partner_id IS NULL)", name="one_owner"),
        Index("ix_webhook_endpoints_tenant", "tenant_id"),
        Index("ix_webhook_endpoints_partner", "partner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    # Event types it is sent (resolvers.change_events.EVENT_TYPES), sorted.
    event_types: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeliveryStatus(enum.Enum):
    # Waiting for its turn (its endpoint's earlier events first) or for its next attempt.
    PENDING = "PENDING"
    # The receiver answered 2xx.
    DELIVERED = "DELIVERED"
    # Every attempt of the retry schedule failed (dead letter); redeliverWebhook makes it PENDING again.
    DEAD = "DEAD"


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("uq_webhook_deliveries_endpoint_event", "endpoint_id", "event_id", unique=True),
        # Per endpoint, in event order: the head of each endpoint's queue, and its log newest first.
        Index("ix_webhook_deliveries_endpoint_sequence", "endpoint_id", "sequence"),
        # The worker's work list: pending deliveries by when they are due.
        Index("ix_webhook_deliveries_due", "next_attempt_at", sqlite_where=PENDING, postgresql_where=PENDING),
        # Retention (resolvers/retention.py): the oldest deliveries first.
        Index("ix_webhook_deliveries_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("change_events.id", ondelete="CASCADE"))
    # The event's sequence (copied: the per-endpoint order is read from this table's own index).
    sequence: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A worker that took the delivery holds it until then; one that died loses it then (the attempt is retried).
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The exact body sent (signed as is): the audience's copy, fixed when fanned out, so retries send the same bytes.
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
