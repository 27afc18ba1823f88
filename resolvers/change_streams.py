"""What a GraphQL subscription's caller is told of the change feed (issue 15): the same reach and audiences as a
read and a webhook endpoint.

`associationChanges` (tenant roles and platform admins) streams the tenant copy of events: the audit event's
content, read as `auditEvents` is (auth.policy READ[AUDIT_EVENT]), so only of the caller's own tenant (or its
delegated admin customer's, while that relationship is active) unless it reads every tenant. `attributionChanges`
(partners) streams the partner's own, personal-data-free copy of the events concerning it, as its webhook endpoint
is sent (resolvers/webhooks/sequencer.audience_copy). A tenant or subscription argument outside the caller's reach
is NOT_FOUND, as for a query; with none, everything the caller may see streams.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from auth.policy import RowFilter, acting_role, grants, reach_covers_tenant
from auth.scope import CallerScope
from db.engine import Database
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


@dataclass(frozen=True, slots=True)
class TenantStream:
    """The caller's reach for `associationChanges`, decided once when it subscribes."""

    reach: RowFilter
    caller_tenant_id: uuid.UUID | None
    tenant_id: uuid.UUID | None
    subscription_id: uuid.UUID | None

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
    return TenantStream(acting[1].reach, scope.tenant_id, tenant, subscription)


def partner_stream(scope: CallerScope) -> PartnerStream:
    if not grants(ATTRIBUTION_CHANGES, scope.roles) or scope.partner_id is None:
        raise Forbidden()
    return PartnerStream(scope.partner_id)


async def told(feed: ChangeFeed, stream: TenantStream | PartnerStream) -> AsyncIterator[Told]:
    """Every event published from now on that the stream's caller may see, as its audience's copy, until the
    consumer stops."""
    async with feed.listening() as listener:
        while True:
            event = await listener.next()
            copy = stream.copy_of(event)
            if copy is not None:
                yield Told(event, copy)
