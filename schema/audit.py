"""Audit events: every mutation's actor, action, target and change, written in the mutation's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from db.audit import AuditEvent as AuditRow
from schema import global_id
from schema.node import Node


@strawberry.type(description="A record of one mutation: who did what to which object, and what changed.")
class AuditEvent(Node):
    occurred_at: datetime = strawberry.field(description="When the mutation committed (UTC).")
    request_id: str = strawberry.field(description="The request id (also in the gateway's logs).")
    correlation_id: str | None = strawberry.field(
        description="The batch this change belongs to: every event of one bulk mutation carries the same id, which"
        " its payload returns (null for single mutations)."
    )
    actor_subject: str = strawberry.field(description="Token subject of the caller.")
    actor_role: str = strawberry.field(description="The role the caller acted in.")
    actor_client_id: str | None = strawberry.field(description="OAuth client id of the calling application.")
    action: str = strawberry.field(description="The mutation, e.g. setDigitalPartnerOfRecord.")
    target_type: str = strawberry.field(description="Type of the object acted on.")
    target_id: strawberry.ID = strawberry.field(description="Global ID of the object acted on.")
    tenant_id: strawberry.ID | None = strawberry.field(description="Global ID of the tenant concerned, if any.")
    subscription_id: strawberry.ID | None = strawberry.field(description="Global ID of the subscription, if any.")
    before: JSON | None = strawberry.field(
        description="The object's relevant state before the change (taken before anything changed). Ids in it are"
        " global ids, as node(id:) takes them (events recorded before 2026-12-01 may hold internal hex ids)."
    )
    after: JSON | None = strawberry.field(
        description="The object's relevant state after the change; ids are global ids, as in `before`."
    )

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEvent:
        return cls(
            id=strawberry.ID(global_id.encode("AuditEvent", row.id)),
            occurred_at=row.occurred_at,
            request_id=row.request_id,
            correlation_id=row.correlation_id,
            actor_subject=row.actor_subject,
            actor_role=row.actor_role,
            actor_client_id=row.actor_client_id,
            action=row.action,
            target_type=row.target_type,
            target_id=strawberry.ID(global_id.encode(row.target_type, uuid.UUID(row.target_id))),
            tenant_id=strawberry.ID(global_id.encode("Tenant", row.tenant_id)) if row.tenant_id else None,
            subscription_id=(
                strawberry.ID(global_id.encode("Subscription", row.subscription_id)) if row.subscription_id else None
            ),
            before=cast("JSON | None", row.before),
            after=cast("JSON | None", row.after),
        )
