"""What a GraphQL subscription's caller is told of the change feed (issue 15): the same reach and audiences as a
read and a webhook endpoint.

`associationChanges` (tenant roles and platform admins) streams the tenant copy of events: the audit event's
content, read as `auditEvents` is (auth.policy READ[AUDIT_EVENT]), so only of the caller's own tenant (or its
delegated admin customer's, while that relationship is active) unless it reads every tenant. `attributionChanges`
(partners) streams the partner's own, personal-data-free copy of the events concerning it, as its webhook endpoint
is sent (resolvers/webhooks/sequencer.audience_copy). A tenant or subscription argument outside the caller's reach
is NOT_FOUND, as for a query; with none, everything the caller may see streams.

A reach that can end mid-stream is re-checked: a delegated admin reads its customer's changes only while its
relationship is active, so its stream asks the database again (the caller's scope, as a request would) when a
`delegation.ended` event of that tenant goes by and at the relationship's `expires_at` (a relationship past it
grants nothing, before the sweep ends it); when the role no longer holds, the stream ends with ReachEnded and the
socket closes with 4403 (schema/change_events.py). Partners' and tenant members' reach is their token's, which
the socket's expiry timer already ends. Nothing is re-checked for the other events: one statement per
relationship end of the caller's tenant, not per event.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import RowFilter, acting_role, grants, reach_covers_tenant
from auth.principal import Principal, Role
from auth.scope import CallerScope, resolve_scope
from db.base import utcnow
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import DelegationStatus
from db.subscription import Subscription
from resolvers import global_id
from resolvers.change_feed import ChangeFeed, FeedEvent
from resolvers.errors import Forbidden, NotFound

ASSOCIATION_CHANGES = "associationChanges"
ATTRIBUTION_CHANGES = "attributionChanges"


@dataclass(frozen=True, slots=True)
class Told:
    """One event as one caller is told of it: the event and that audience's copy."""

    event: FeedEvent
    copy: dict[str, Any]


class ReachEnded(Exception):
    """The caller no longer reaches what its stream tells (a delegated admin relationship ended or expired)."""


@dataclass(slots=True)
class Reach:
    """A reach that can end while the stream runs: the role the stream acts with, re-checked against the
    database when `ended_by` an event and at `ends_at`."""

    database: Database
    principal: Principal
    role: Role
    tenant_id: uuid.UUID
    partner_id: uuid.UUID
    ends_at: datetime | None = field(default=None)

    def ended_by(self, event: FeedEvent) -> bool:
        return event.type == "delegation.ended" and event.tenant_id == self.tenant_id

    async def holds(self) -> bool:
        """The role still holds (the caller's scope resolved again, as the next request would); `ends_at` read
        again when it does."""
        async with self.database.read() as session:
            scope = await resolve_scope(session, self.principal)
            if self.role not in scope.roles:
                return False
            self.ends_at = await _delegation_ends_at(session, self.tenant_id, self.partner_id)
        return True

    def seconds_left(self) -> float | None:
        if self.ends_at is None:
            return None
        return max(0.0, (self.ends_at - utcnow()).total_seconds())


async def _delegation_ends_at(session: AsyncSession, tenant_id: uuid.UUID, partner_id: uuid.UUID) -> datetime | None:
    """When the partner's last active relationship on the tenant expires (None: one never does)."""
    expiries = (
        await session.scalars(
            select(DelegatedAdminRelationship.expires_at).where(
                DelegatedAdminRelationship.tenant_id == tenant_id,
                DelegatedAdminRelationship.partner_id == partner_id,
                DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
            )
        )
    ).all()
    ends = [expiry for expiry in expiries if expiry is not None]
    if not ends or len(ends) < len(expiries):
        return None
    return max(ends)


@dataclass(frozen=True, slots=True)
class TenantStream:
    """The caller's reach for `associationChanges`, decided when it subscribes (`ending`: re-checked as it runs)."""

    reach: RowFilter
    caller_tenant_id: uuid.UUID | None
    tenant_id: uuid.UUID | None
    subscription_id: uuid.UUID | None
    ending: Reach | None = None

    def copy_of(self, event: FeedEvent) -> dict[str, Any] | None:
        if event.tenant_payload is None or event.tenant_id is None:
            return None
        if not reach_covers_tenant(self.reach, self.caller_tenant_id, event.tenant_id):
            return None
        if self.tenant_id is not None and event.tenant_id != self.tenant_id:
            return None
        if self.subscription_id is not None and event.subscription_id != self.subscription_id:
            return None
        return event.tenant_payload


@dataclass(frozen=True, slots=True)
class PartnerStream:
    partner_id: uuid.UUID

    def copy_of(self, event: FeedEvent) -> dict[str, Any] | None:
        copy: dict[str, Any] | None = event.partner_payloads.get(self.partner_id.hex)
        return copy


async def tenant_stream(
    database: Database, scope: CallerScope, *, tenant_id: str | None, subscription_id: str | None
) -> TenantStream:
    """The reach of the held role that reads the tenant (or subscription) asked for; FORBIDDEN without one, and
    NOT_FOUND for a tenant or subscription outside it (or absent)."""
    held = grants(ASSOCIATION_CHANGES, scope.roles)
    if not held:
        raise Forbidden()
    tenant = global_id.decode(tenant_id, "Tenant", field="tenantId") if tenant_id is not None else None
    subscription = (
        global_id.decode(subscription_id, "Subscription", field="subscriptionId") if subscription_id else None
    )
    target_tenant = tenant
    if subscription is not None:
        async with database.read() as session:
            owner = await session.scalar(select(Subscription.tenant_id).where(Subscription.id == subscription))
        if owner is None or (tenant is not None and owner != tenant):
            raise NotFound("subscription")
        target_tenant = owner
    acting = acting_role(held, scope.tenant_id, target_tenant)
    if acting is None:
        raise NotFound("subscription" if subscription is not None else "tenant")
    ending = None
    if acting[0] is Role.DELEGATED_ADMIN and scope.tenant_id is not None and scope.partner_id is not None:
        ending = Reach(database, scope.principal, Role.DELEGATED_ADMIN, scope.tenant_id, scope.partner_id)
        async with database.read() as session:
            ending.ends_at = await _delegation_ends_at(session, scope.tenant_id, scope.partner_id)
    return TenantStream(acting[1].reach, scope.tenant_id, tenant, subscription, ending)


def partner_stream(scope: CallerScope) -> PartnerStream:
    if not grants(ATTRIBUTION_CHANGES, scope.roles) or scope.partner_id is None:
        raise Forbidden()
    return PartnerStream(scope.partner_id)


async def told(feed: ChangeFeed, stream: TenantStream | PartnerStream) -> AsyncIterator[Told]:
    """Every event published from now on that the stream's caller may see, as its audience's copy, until the
    consumer stops (or ReachEnded, once the caller's reach ended)."""
    ending = stream.ending if isinstance(stream, TenantStream) else None
    async with feed.listening() as listener:
        while True:
            left = ending.seconds_left() if ending is not None else None
            try:
                event = await asyncio.wait_for(listener.next(), None if left is None else left + 0.05)
            except TimeoutError:
                assert ending is not None
                if not await ending.holds():
                    raise ReachEnded("Delegated admin relationship expired") from None
                continue
            copy = stream.copy_of(event)
            if copy is not None:
                yield Told(event, copy)
            if ending is not None and ending.ended_by(event) and not await ending.holds():
                raise ReachEnded("Delegated admin relationship ended")
