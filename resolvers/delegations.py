"""Delegated admin relationships: a platform admin gives a partner admin rights on a customer tenant, until ended or
until they expire; a platform admin or the tenant's OWNER ends them.

A partner admin link lasts only while the partner has that access (issue 14): when the relationship ends, or
expires, the partner's admin links on the tenant's subscriptions end at that same instant with ROLE_REVOKED, in the
relationship's own transaction, so attribution stops there. An expiry ends nothing by itself: from `expires_at` on the
partner holds no DELEGATED_ADMIN role (auth.scope), and the sweep (`expire_due`, run by resolvers.sweep) ends the
relationship and its links with ended_at = valid_to = expires_at, whatever its lag. Ended by hand after it had
expired, a relationship ends at its expiry too.

Each mutation runs inside the caller's write transaction, records its audit event there, and returns the
relationship as the transaction left it, checked against the caller's row filters (resolvers.in_reach).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Entity
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.base import new_id
from db.delegation import DelegatedAdminRelationship
from db.enums import AssociationEndReason, AssociationType, DelegationStatus
from db.partner import Partner
from db.subscription import Subscription
from resolvers import audit, global_id
from resolvers.association_steps import end, now_in_seconds
from resolvers.authorize import Actor, granted
from resolvers.errors import BadUserInput, Conflict, NotFound
from resolvers.in_reach import shown
from resolvers.provisioning import acting, tenant_row

_RELATIONSHIP = "delegated admin relationship"


@dataclass(frozen=True)
class CreateDelegationArgs:
    tenant_id: uuid.UUID
    partner_id: uuid.UUID
    expires_at: datetime | None = None  # whole seconds, after now (checked here, against the server's clock)


async def create_delegated_admin_relationship(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreateDelegationArgs
) -> DelegatedAdminRelationship:
    granted("createDelegatedAdminRelationship", scope)
    tenant = await tenant_row(session, args.tenant_id, lock=True)
    actor = acting("createDelegatedAdminRelationship", scope, request_id, tenant.id, "tenant")
    if await session.get(Partner, args.partner_id) is None:
        raise BadUserInput("no such partner", field="partnerId")
    if args.expires_at is not None and args.expires_at <= now_in_seconds():
        raise BadUserInput("expiresAt must be in the future", field="expiresAt")
    active = await session.scalar(
        select(DelegatedAdminRelationship)
        .where(
            DelegatedAdminRelationship.tenant_id == tenant.id,
            DelegatedAdminRelationship.partner_id == args.partner_id,
            DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
        )
        .with_for_update()
    )
    if active is not None and active.expires_at is not None and active.expires_at <= now_in_seconds():
        # Expired but not swept yet: it grants nothing already; end it (at its expiry) so the new one can start.
        await _end(session, active, active.expires_at, actor, EXPIRED)
    elif active is not None:
        raise Conflict("the partner already holds an active delegated admin relationship on this tenant")
    relationship = DelegatedAdminRelationship(
        id=new_id(), tenant_id=tenant.id, partner_id=args.partner_id, expires_at=args.expires_at
    )
    session.add(relationship)
    await session.flush()
    audit.record(
        session,
        actor,
        "createDelegatedAdminRelationship",
        target_type="DelegatedAdminRelationship",
        target_id=relationship.id,
        tenant_id=tenant.id,
        after={
            "partnerId": global_id.encode("Partner", args.partner_id),
            "expiresAt": args.expires_at.isoformat() if args.expires_at else None,
        },
    )
    return await shown(session, scope, Entity.DELEGATED_ADMIN_RELATIONSHIP, relationship, _RELATIONSHIP)


async def end_delegated_admin_relationship(
    session: AsyncSession, scope: CallerScope, request_id: str, relationship_id: uuid.UUID
) -> DelegatedAdminRelationship:
    """Ends the relationship now (at its expiry, if that has passed), and with it the partner's admin links on the
    tenant's subscriptions (ROLE_REVOKED)."""
    granted("endDelegatedAdminRelationship", scope)
    relationship = await _locked(session, relationship_id)
    if relationship is None:
        raise NotFound(_RELATIONSHIP)
    actor = acting(
        "endDelegatedAdminRelationship",
        scope,
        request_id,
        relationship.tenant_id,
        _RELATIONSHIP,
    )
    if relationship.status is DelegationStatus.ACTIVE:
        at = now_in_seconds()
        if relationship.expires_at is not None:
            at = min(at, relationship.expires_at)
        await _end(session, relationship, at, actor, "endDelegatedAdminRelationship")
    return await shown(session, scope, Entity.DELEGATED_ADMIN_RELATIONSHIP, relationship, _RELATIONSHIP)


# What the sweep records as having ended an expired relationship (audit action; the actor is the gateway itself).
EXPIRED = "delegatedAdminRelationshipExpired"


async def due_to_expire(session: AsyncSession, now: datetime, limit: int) -> Sequence[uuid.UUID]:
    """Active relationships whose expiry has passed, earliest first (ix_delegated_admin_relationships_active_expiry)."""
    statement = (
        select(DelegatedAdminRelationship.id)
        .where(
            DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
            DelegatedAdminRelationship.expires_at <= now,
        )
        .order_by(DelegatedAdminRelationship.expires_at)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def expire(session: AsyncSession, actor: Actor, relationship_id: uuid.UUID, now: datetime) -> bool:
    """Ends one relationship whose expiry has passed, at its expiry (not now), with its admin links; False when it
    was ended meanwhile (by hand, or by another process's sweep). Runs in the caller's write transaction."""
    relationship = await _locked(session, relationship_id)
    if relationship is None or relationship.status is not DelegationStatus.ACTIVE:
        return False
    if relationship.expires_at is None or relationship.expires_at > now:
        return False
    await _end(session, relationship, relationship.expires_at, actor, EXPIRED)
    return True


async def _locked(session: AsyncSession, relationship_id: uuid.UUID) -> DelegatedAdminRelationship | None:
    return await session.scalar(
        select(DelegatedAdminRelationship).where(DelegatedAdminRelationship.id == relationship_id).with_for_update()
    )


async def _end(
    session: AsyncSession, relationship: DelegatedAdminRelationship, at: datetime, actor: Actor, action: str
) -> None:
    """The relationship ENDED at `at`, and the partner's active admin links on the tenant's subscriptions with it,
    at the same instant (ROLE_REVOKED): one version bump per subscription, one audit event."""
    relationship.status = DelegationStatus.ENDED
    relationship.ended_at = at
    admin_links = (
        PartnerAssociation.partner_id == relationship.partner_id,
        PartnerAssociation.type == AssociationType.PARTNER_ADMIN_LINK,
        PartnerAssociation.valid_to.is_(None),
    )
    # Lock order as everywhere else: subscriptions first, then their associations (no deadlock with DPOR changes).
    subscriptions = (
        await session.scalars(
            select(Subscription)
            .where(
                Subscription.tenant_id == relationship.tenant_id,
                Subscription.id.in_(select(PartnerAssociation.subscription_id).where(*admin_links)),
            )
            .order_by(Subscription.id)
            .with_for_update()
        )
    ).all()
    links = (
        (
            await session.scalars(
                select(PartnerAssociation)
                .where(PartnerAssociation.subscription_id.in_([s.id for s in subscriptions]), *admin_links)
                .with_for_update()
            )
        ).all()
        if subscriptions
        else []
    )
    for link in links:
        # A link started after `at` (set by someone else before the sweep came) ends as the empty [t, t).
        end(link, at, actor, AssociationEndReason.ROLE_REVOKED)
    for subscription in subscriptions:
        subscription.version += 1
    await session.flush()
    audit.record(
        session,
        actor,
        action,
        target_type="DelegatedAdminRelationship",
        target_id=relationship.id,
        tenant_id=relationship.tenant_id,
        before={"status": "ACTIVE"},
        after={
            "status": "ENDED",
            "partnerId": global_id.encode("Partner", relationship.partner_id),
            "endedAt": at.isoformat(),
            "endedAdminLinks": [global_id.encode("PartnerAssociation", link.id) for link in links],
        },
    )
