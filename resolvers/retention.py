"""Retention of the outbox (issue 15): finished webhook deliveries and published change events older than the
retention are pruned by the sweep (resolvers/sweep.py), so the two tables hold weeks, not years.

What goes, past `retention` (DPOR_CHANGE_EVENT_RETENTION_DAYS; 0 keeps everything):
- deliveries DELIVERED or DEAD created before the cutoff (their log rows: `webhookDeliveries` no longer lists
  them, and a dead one can no longer be redelivered); a PENDING delivery stays whatever its age;
- events published (with a sequence) that occurred before the cutoff and have no PENDING delivery left. Their
  other deliveries go with them (the foreign key cascades). An unpublished event is never pruned: the sequencer
  has not told anyone of it yet.

The audit log keeps every change for ever (resolvers/audit.py): the outbox is what is told, not the record. Each
batch is one short write transaction (oldest first, through an index on the instant), and a read decides first
whether there is anything to prune, so an idle sweep takes no write lock (SQLite's is the whole database's).
Subscribers are unaffected: the change feed reads events newer than the last it told, and a new subscriber
starts from the newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Delete, Select, delete, exists, select
from sqlalchemy.orm import aliased

from db.change_event import ChangeEvent
from db.engine import Database
from db.webhook import DeliveryStatus, WebhookDelivery

BATCH = 1_000


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    events: int


def _old_deliveries(cutoff: datetime, batch: int) -> Select[Any]:
    return (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.created_at < cutoff,
            WebhookDelivery.status.in_((DeliveryStatus.DELIVERED, DeliveryStatus.DEAD)),
        )
        .order_by(WebhookDelivery.created_at)
        .limit(batch)
    )


def _old_events(cutoff: datetime, batch: int) -> Select[Any]:
    pending = aliased(WebhookDelivery)
    return (
        select(ChangeEvent.position)
        .where(
            ChangeEvent.occurred_at < cutoff,
            ChangeEvent.sequence.is_not(None),
            ~exists().where(pending.event_id == ChangeEvent.id, pending.status == DeliveryStatus.PENDING),
        )
        .order_by(ChangeEvent.occurred_at)
        .limit(batch)
    )


async def _in_batches(database: Database, chosen: Select[Any], remove: Delete) -> int:
    removed = 0
    while True:
        async with database.read() as session:
            if await session.scalar(chosen.limit(1)) is None:
                return removed
        async with database.write() as session:
            result = await session.execute(remove)
            count = int(getattr(result, "rowcount", 0) or 0)
        removed += count
        if count == 0:
            return removed


async def prune(database: Database, now: datetime, retention: timedelta, *, batch: int = BATCH) -> Pruned:
    """Prune what is older than `now - retention`; how many of each went."""
    cutoff = now - retention
    deliveries = await _in_batches(
        database,
        _old_deliveries(cutoff, batch),
        delete(WebhookDelivery).where(WebhookDelivery.id.in_(_old_deliveries(cutoff, batch).scalar_subquery())),
    )
    events = await _in_batches(
        database,
        _old_events(cutoff, batch),
        delete(ChangeEvent).where(ChangeEvent.position.in_(_old_events(cutoff, batch).scalar_subquery())),
    )
    return Pruned(deliveries=deliveries, events=events)
