"""`auditEvents`: the audit log the caller sees, newest first (resolvers/audit.py writes it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from auth.policy import Entity
from auth.row_filters import visibility
from auth.scope import CallerScope
from db.audit import AuditEvent
from db.engine import Database
from resolvers.loaders import AUDIT_ORDER
from resolvers.pagination import Paging
from resolvers.reads.listing import Listing, list_rows


@dataclass(frozen=True, slots=True)
class AuditEventFilter:
    """Omitted (None) fields do not filter."""

    tenant_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    action: str | None = None  # a mutation name
    correlation_id: str | None = None  # a bulk mutation's batch
    from_: datetime | None = None  # at or after
    to: datetime | None = None  # before


def _filtered(given: AuditEventFilter) -> Select[Any]:
    statement = select(AuditEvent)
    if given.tenant_id is not None:
        statement = statement.where(AuditEvent.tenant_id == given.tenant_id)
    if given.subscription_id is not None:
        statement = statement.where(AuditEvent.subscription_id == given.subscription_id)
    if given.action:
        statement = statement.where(AuditEvent.action == given.action)
    if given.correlation_id:
        statement = statement.where(AuditEvent.correlation_id == given.correlation_id)
    if given.from_ is not None:
        statement = statement.where(AuditEvent.occurred_at >= given.from_)
    if given.to is not None:
        statement = statement.where(AuditEvent.occurred_at < given.to)
    return statement


async def list_audit_events(
    database: Database, scope: CallerScope, filter: AuditEventFilter, paging: Paging
) -> Listing[AuditEvent]:
    return await list_rows(
        database, _filtered(filter), visible=visibility(Entity.AUDIT_EVENT, scope), key=AUDIT_ORDER, paging=paging
    )
