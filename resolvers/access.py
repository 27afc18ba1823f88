"""A partner's delegated admin access to a tenant, read under a lock inside the writer's transaction.

The caller's DELEGATED_ADMIN role is decided when its request begins (auth.scope), outside the transaction that then
writes. A partner admin link lasts only while its partner has access (issue 14): the relationship's end ends every
such link it finds, so a link written after the end had looked, by a request that began before it, outlived the
relationship (active, and attributed, for a partner without access). A writer that needs the access therefore locks
the relationship row first, as the end does (resolvers.delegations locks it before the tenant's subscriptions, and
so does this, so neither waits on the other in a cycle), and checks it there: either the writer commits before the
end reads the links, or it sees the relationship ended. FOR SHARE: writers needing the same access do not queue on
each other, only the end (FOR UPDATE) waits for them. SQLite's BEGIN IMMEDIATE serializes writers already.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.delegation import DelegatedAdminRelationship
from db.enums import DelegationStatus
from db.subscription import Subscription


async def tenant_of(session: AsyncSession, subscription_id: uuid.UUID) -> uuid.UUID | None:
    """A subscription's tenant, unlocked (it never changes): what to lock the access of before the subscription."""
    return await session.scalar(select(Subscription.tenant_id).where(Subscription.id == subscription_id))


async def lock_access(
    session: AsyncSession, tenant_id: uuid.UUID, partner_id: uuid.UUID, at: datetime
) -> DelegatedAdminRelationship | None:
    """The partner's relationship on the tenant that grants access at `at` (active, not expired), locked FOR SHARE
    until the transaction ends; None when there is none."""
    statement = (
        select(DelegatedAdminRelationship)
        .where(
            DelegatedAdminRelationship.tenant_id == tenant_id,
            DelegatedAdminRelationship.partner_id == partner_id,
            DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
            or_(DelegatedAdminRelationship.expires_at.is_(None), DelegatedAdminRelationship.expires_at > at),
        )
        .with_for_update(read=True)
    )
    return await session.scalar(statement)
