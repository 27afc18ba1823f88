"""Delivering webhooks (issue 15): the delivery table is the queue and the log; one pass of the worker.

Why not procrastinate (the well-kept PostgreSQL job queue the issue prefers): it runs on PostgreSQL only, through
psycopg 3, while the gateway also runs on SQLite and speaks asyncpg; it would add a second driver, a second
connection pool and its own schema and migrations beside Alembic's, and its jobs are not ordered per key, so
"event n+1 is not delivered to an endpoint before n succeeded or died" would still be ours to write on top of it,
with the log kept apart from the jobs. The delivery rows do all of it in the gateway's own tables, on both
databases, with one claim statement:

- Claim (`claim`, one short write transaction): the due head of each endpoint's queue — PENDING, due, not leased,
  on an enabled endpoint, with no PENDING delivery of a lower sequence on the same endpoint — locked FOR UPDATE
  SKIP LOCKED on PostgreSQL (SQLite: the write lock), and leased for `lease_seconds`. Two workers never take the
  same delivery: the lock decides between them, the lease keeps it taken after commit. Only heads are taken, so
  at most one attempt per endpoint is in flight and the endpoint's order is kept.
- Send (outside any transaction): signed, through resolvers/webhooks/transport.py.
- Record (`record`, one short write transaction per attempt, fenced by the lease it took): DELIVERED on 2xx;
  otherwise the next attempt after the retry schedule's next delay with +/-20% jitter, or DEAD after its last
  delay. A worker killed between claim and record leaves the lease to run out: the same delivery (same webhook-id,
  same body) is tried again, so delivery is at least once, and receivers dedupe on webhook-id.

Each pass first publishes what committed since the last (resolvers/webhooks/sequencer.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.base import utcnow
from db.change_event import ChangeEvent
from db.engine import Database
from db.row_security import SystemTask, system
from db.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from resolvers.webhooks import sequencer
from resolvers.webhooks.transport import Attempt, Sender, signed_headers

log = logging.getLogger(__name__)

# Svix's schedule, the one Standard Webhooks' authors run: after the first attempt, retries 5 s, 5 min, 30 min,
# 2 h, 5 h, 10 h and 10 h later (about 27.6 h in all), then the dead letter.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)
JITTER = 0.2


@dataclass(frozen=True)
class DeliveryConfig:
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    timeout_seconds: float = 10.0
    max_response_bytes: int = 65_536
    allow_private: bool = False
    # Heads claimed per pass (one per endpoint), sent concurrently.
    batch: int = 50
    # Longer than an attempt can take (the overall deadline), so a live worker never loses its lease.
    lease_seconds: float = 60.0

    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    leased_until: datetime
    url: str
    secret: str
    body: dict[str, Any]


def message_id(event_id: uuid.UUID) -> str:
    """The `webhook-id` of every attempt of every delivery of one event."""
    return f"evt_{event_id.hex}"


def encoded(body: dict[str, Any]) -> str:
    """The bytes signed and sent: the same for every attempt (keys sorted, no spaces)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def claim(session: AsyncSession, now: datetime, config: DeliveryConfig) -> list[Claimed]:
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.status == DeliveryStatus.PENDING,
        earlier.sequence < WebhookDelivery.sequence,
    )
    statement = (
        select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until <= now),
            WebhookEndpoint.enabled.is_(True),
            ~blocked,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.sequence)
        .limit(config.batch)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    leased_until = now + config.lease()
    taken: list[Claimed] = []
    for delivery, url, secret in (await session.execute(statement)).all():
        delivery.leased_until = leased_until
        taken.append(Claimed(delivery.id, delivery.event_id, leased_until, url, secret, delivery.body))
    await session.flush()
    return taken


def next_delay(attempts: int, schedule: Sequence[float]) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones (None: that was the last)."""
    if attempts > len(schedule):
        return None
    return schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)


async def record(
    session: AsyncSession, claimed: Claimed, attempt: Attempt, at: datetime, config: DeliveryConfig
) -> bool:
    """The attempt's outcome, if this worker still holds the lease (False: it ran out and another took over)."""
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == claimed.delivery_id, WebhookDelivery.leased_until == claimed.leased_until)
        .with_for_update()
    )
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return False
    delivery.attempts += 1
    delivery.last_attempt_at = at
    delivery.last_status_code = attempt.status_code
    delivery.last_latency_ms = attempt.latency_ms
    delivery.last_error = attempt.error
    delivery.leased_until = None
    if attempt.delivered:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = at
        return True
    delay = next_delay(delivery.attempts, config.retry_schedule)
    if delay is None:
        delivery.status = DeliveryStatus.DEAD
        log.warning("webhook delivery %s dead after %d attempts: %s", delivery.id, delivery.attempts, attempt.error)
    else:
        delivery.next_attempt_at = at + timedelta(seconds=delay)
    return True


@dataclass(frozen=True)
class PassReport:
    published: int
    attempted: int
    delivered: int


async def _work_waiting(session: AsyncSession, now: datetime) -> tuple[bool, bool]:
    """(events to publish, deliveries due): read first, so an idle worker takes no write lock (SQLite's is the
    whole database's)."""
    unsequenced = select(ChangeEvent.position).where(ChangeEvent.sequence.is_(None)).limit(1)
    due = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until <= now),
        )
        .limit(1)
    )
    return (await session.scalar(unsequenced)) is not None, (await session.scalar(due)) is not None


async def deliver_once(database: Database, sender: Sender, config: DeliveryConfig) -> PassReport:
    """Publish what committed, then one attempt for each due endpoint head, concurrently."""
    database = database.acting(system(SystemTask.WEBHOOK_DELIVERY))
    async with database.read() as session:
        to_publish, to_send = await _work_waiting(session, utcnow())
    published, taken = 0, []
    if to_publish:
        async with database.write() as session:
            published = await sequencer.publish(session)
    if to_send or published:
        async with database.write() as session:
            taken = await claim(session, utcnow(), config)

    async def one(item: Claimed) -> bool:
        at = utcnow()
        text = encoded(item.body)
        attempt = await sender.send(item.url, text, signed_headers(item.secret, message_id(item.event_id), at, text))
        async with database.write() as session:
            await record(session, item, attempt, at, config)
        return attempt.delivered

    results = await asyncio.gather(*(one(item) for item in taken))
    return PassReport(published, len(taken), sum(results))
