"""Retention of the outbox (resolvers/retention.py), through the sweep: finished deliveries and published events
past the retention go; a pending delivery, its event, an unpublished event and anything younger stay; no
retention keeps everything."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from db import clock
from db.change_event import ChangeEvent
from db.engine import Database
from db.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from resolvers.sweep import sweep
from tests import factories

KEEP = timedelta(days=30)


async def outbox(database: Database) -> dict[str, uuid.UUID]:
    """Events (by name) and their deliveries to one endpoint, old (40 days) and young (1 day)."""
    now = clock.now_in_seconds()
    old, young = now - timedelta(days=40), now - timedelta(days=1)
    tenant = factories.tenant()
    endpoint = WebhookEndpoint(
        tenant_id=tenant.id, url="https://r.example/h", event_types=["claim.created"], secret="s"
    )
    # name: (occurred at, sequence, delivery status or None)
    plan = {
        "old_delivered": (old, 1, DeliveryStatus.DELIVERED),
        "old_dead": (old, 2, DeliveryStatus.DEAD),
        "old_pending": (old, 3, DeliveryStatus.PENDING),
        "old_undelivered": (old, 4, None),
        "old_unpublished": (old, None, None),
        "young_delivered": (young, 5, DeliveryStatus.DELIVERED),
    }
    ids = {}
    async with database.write() as session:
        await factories.add_flushed(session, tenant, endpoint)
        for name, (occurred, sequence, status) in plan.items():
            event = ChangeEvent(
                type="claim.created",
                occurred_at=occurred,
                audit_event_id=uuid.uuid4(),
                tenant_id=tenant.id,
                sequence=sequence,
                partner_payloads={},
            )
            session.add(event)
            await session.flush()
            ids[name] = event.id
            if status is not None:
                session.add(
                    WebhookDelivery(
                        endpoint_id=endpoint.id,
                        event_id=event.id,
                        sequence=sequence,
                        event_type=event.type,
                        status=status,
                        created_at=occurred,
                        next_attempt_at=occurred,
                        body={},
                    )
                )
    return ids


async def remaining(database: Database) -> tuple[set[uuid.UUID], int]:
    async with database.read() as session:
        events = set((await session.scalars(select(ChangeEvent.id))).all())
        deliveries = int(await session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)
    return events, deliveries


async def test_the_sweep_prunes_what_is_finished_and_past_the_retention(database: Database) -> None:
    ids = await outbox(database)
    report = await sweep(database, keep_events=KEEP, batch=2)
    # The old delivered and dead deliveries; then the old published events with nothing pending (their
    # deliveries gone already, or never made).
    assert (report.pruned_deliveries, report.pruned_events) == (2, 3)
    events, deliveries = await remaining(database)
    assert events == {ids["old_pending"], ids["old_unpublished"], ids["young_delivered"]}
    assert deliveries == 2  # the pending one and the young one
    again = await sweep(database, keep_events=KEEP)
    assert (again.pruned_deliveries, again.pruned_events) == (0, 0)


async def test_without_a_retention_nothing_is_pruned(database: Database) -> None:
    ids = await outbox(database)
    report = await sweep(database)
    assert (report.pruned_deliveries, report.pruned_events) == (0, 0)
    assert await remaining(database) == (set(ids.values()), 4)
