"""Writing audit events, in the transaction of the mutation they describe."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import AuditEvent
from db.base import new_id
from resolvers.authorize import Actor


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
) -> AuditEvent:
    event = AuditEvent(
        id=new_id(),
        request_id=actor.request_id,
        actor_subject=actor.subject,
        actor_role=actor.role_name,
        actor_client_id=actor.client_id,
        action=action,
        target_type=target_type,
        target_id=target_id.hex,
        tenant_id=tenant_id,
        subscription_id=subscription_id,
        before=before,
        after=after,
    )
    session.add(event)
    return event
