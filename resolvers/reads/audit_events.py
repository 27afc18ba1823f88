"""`auditEvents`: the audit log the caller sees, newest first (resolvers/audit.py writes it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select

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
    return select(AuditEvent).where(*audit_event_conditions(asdict(given)))


def audit_event_conditions(given: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """The conditions of an AuditEventFilter's fields by name (resolvers/compiled/ passes bind parameters for the
    values; a field absent or None, and an empty action or correlation id, does not filter)."""
    conditions: list[ColumnElement[bool]] = []
    if (tenant_id := given.get("tenant_id")) is not None:
        conditions.append(AuditEvent.tenant_id == tenant_id)
    if (subscription_id := given.get("subscription_id")) is not None:
        conditions.append(AuditEvent.subscription_id == subscription_id)
    if (action := given.get("action")) is not None and not _empty(action):
        conditions.append(AuditEvent.action == action)
    if (correlation_id := given.get("correlation_id")) is not None and not _empty(correlation_id):
        conditions.append(AuditEvent.correlation_id == correlation_id)
    if (from_ := given.get("from_")) is not None:
        conditions.append(AuditEvent.occurred_at >= from_)
    if (to := given.get("to")) is not None:
        conditions.append(AuditEvent.occurred_at < to)
    return conditions


def _empty(value: object) -> bool:
    return isinstance(value, str) and not value


async def list_audit_events(
    database: Database, scope: CallerScope, filter: AuditEventFilter, paging: Paging
) -> Listing[AuditEvent]:
    return await list_rows(
        database, _filtered(filter), visible=visibility(Entity.AUDIT_EVENT, scope), key=AUDIT_ORDER, paging=paging
    )
