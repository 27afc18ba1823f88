"""Publishing change events: the sequencer gives committed events their sequence and fans each out to the webhook
endpoints that may see it (issue 15).

Why after commit, and not in the mutation: a sequence taken in the mutation's transaction is allocated before it
commits, so two concurrent mutations can commit in the opposite order of their numbers and a reader following the
numbers could pass a gap that is filled later (and never look back). Taking the numbers under a lock the mutations
share would serialize every change on that lock until commit. Instead the mutation only INSERTs its event
(position order), and one sequencer at a time (the one `change_event_sequencer` row, locked FOR UPDATE SKIP LOCKED:
another process finding it locked skips its turn) numbers the committed, unsequenced events in position order. A
sequence is thus never taken by an uncommitted event, and is given in the order readers first see events.

Fan-out happens in the same transaction as the numbering: one delivery per (enabled endpoint, event) where the
endpoint subscribes to the event's type and its owner is an audience of the event (a partner endpoint: the event
has a copy for its partner; a tenant endpoint: the event has a tenant copy and is its tenant's), for events that
occurred since the endpoint was created. The delivery holds
the exact body to sign and send, that audience's copy, so retries send the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import new_id, utcnow
from db.change_event import ChangeEvent, ChangeEventSequencer
from db.change_notifications import mark_changed
from db.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint

BATCH = 500
_ROW = 1


def body(event: ChangeEvent, copy: dict[str, Any]) -> dict[str, Any]:
    """The delivery's JSON body, in the Standard Webhooks shape (`type`, `timestamp`, `data`)."""
    assert event.sequence is not None
    return {
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "data": {**copy, "sequence": event.sequence},
    }


def audience_copy(event: ChangeEvent, endpoint: WebhookEndpoint) -> dict[str, Any] | None:
    """What `endpoint` is sent of `event` (None: it is not told). An endpoint is told of what happens from its
    creation on: an event that occurred before it existed, but was published after (the sequencer's lag), is not
    sent to it."""
    if event.type not in endpoint.event_types or event.occurred_at < endpoint.created_at:
        return None
    if endpoint.partner_id is not None:
        copy: dict[str, Any] | None = event.partner_payloads.get(endpoint.partner_id.hex)
        return copy
    if endpoint.tenant_id is not None and endpoint.tenant_id == event.tenant_id:
        return event.tenant_payload
    return None


async def _lock(session: AsyncSession) -> ChangeEventSequencer | None:
    """The sequencer row, locked; None when another sequencer holds it. Created on first use."""
    statement = select(ChangeEventSequencer).where(ChangeEventSequencer.id == _ROW).with_for_update(skip_locked=True)
    row = await session.scalar(statement)
    if row is not None:
        return row
    if await session.scalar(select(ChangeEventSequencer.id).where(ChangeEventSequencer.id == _ROW)) is not None:
        return None  # it exists: someone else holds it
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(make(ChangeEventSequencer).values(id=_ROW, last_sequence=0).on_conflict_do_nothing())
    return await session.scalar(statement)


async def publish(session: AsyncSession, *, batch: int = BATCH) -> int:
    """Number and fan out up to `batch` committed events, in the caller's write transaction; how many. 0 when
    there is nothing to do, or another process is doing it."""
    sequencer = await _lock(session)
    if sequencer is None:
        return 0
    events: Sequence[ChangeEvent] = (
        await session.scalars(
            select(ChangeEvent).where(ChangeEvent.sequence.is_(None)).order_by(ChangeEvent.position).limit(batch)
        )
    ).all()
    if not events:
        return 0
    tenants = {event.tenant_id for event in events if event.tenant_id is not None}
    partners = {uuid_hex for event in events for uuid_hex in event.partner_payloads}
    endpoints = (
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.enabled.is_(True),
                or_(
                    WebhookEndpoint.tenant_id.in_(sorted(tenants)),
                    WebhookEndpoint.partner_id.in_(sorted(uuid.UUID(hex=value) for value in partners)),
                ),
            )
        )
    ).all()
    deliveries: list[dict[str, Any]] = []
    now = utcnow()
    last = sequencer.last_sequence
    for event in events:
        last += 1
        event.sequence = last
        for endpoint in endpoints:
            copy = audience_copy(event, endpoint)
            if copy is None:
                continue
            deliveries.append(
                {
                    "id": new_id(),
                    "endpoint_id": endpoint.id,
                    "event_id": event.id,
                    "sequence": last,
                    "event_type": event.type,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "body": body(event, copy),
                }
            )
    sequencer.last_sequence = last
    await session.flush()
    mark_changed(session)  # the pollers of the published events (PostgreSQL: the trigger on the sequence's UPDATE)
    if deliveries:
        await session.execute(insert(WebhookDelivery), deliveries)
    return len(events)
