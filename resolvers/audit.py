"""Writing audit events, in the transaction of the mutation they describe, and with each the change event it makes
(resolvers/change_events.py): both go out in the same transaction, or neither does."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import AuditEvent
from db.base import new_id, utcnow
from db.change_event import ChangeEvent
from db.change_notifications import mark_changed
from resolvers import change_events
from resolvers.authorize import Actor


def row(
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    subscription_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """An audit event's columns, for a multi-row INSERT (a batch of changes writes its events in one statement)."""
    return {
        "id": new_id(),
        "occurred_at": utcnow(),
        "request_id": actor.request_id,
        "correlation_id": correlation_id,
        "actor_subject": actor.subject,
        "actor_role": actor.role_name,
        "actor_client_id": actor.client_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id.hex,
        "tenant_id": tenant_id,
        "subscription_id": subscription_id,
        "before": before,
        "after": after,
    }


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    subscription_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> AuditEvent:
    columns = row(
        actor,
        action,
        target_type=target_type,
        target_id=target_id,
        tenant_id=tenant_id,
        subscription_id=subscription_id,
        before=before,
        after=after,
        correlation_id=correlation_id,
    )
    event = AuditEvent(**columns)
    session.add(event)
    if (change := change_events.derive(columns)) is not None:
        session.add(ChangeEvent(**change))
        mark_changed(session)
    return event


def change_event_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The change events of a batch of audit rows (`row`), for the multi-row INSERT beside theirs."""
    return [change for event in events if (change := change_events.derive(event)) is not None]
