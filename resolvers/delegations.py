"""Delegated admin relationships: a platform admin gives a partner admin rights on a customer tenant; a platform
admin or the tenant's OWNER ends them, and with them the partner's admin links on the tenant's subscriptions.

Each function runs inside the caller's write transaction, records its audit event there, and returns the
relationship as the transaction left it, checked against the caller's row filters (resolvers.in_reach).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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
from resolvers.authorize import granted
from resolvers.errors import BadUserInput, Conflict, NotFound
from resolvers.in_reach import shown
from resolvers.provisioning import acting, tenant_row

_RELATIONSHIP = "delegated admin relationship"


@dataclass(frozen=True)
class CreateDelegationArgs:
    tenant_id: uuid.UUID
    partner_id: uuid.UUID


async def create_delegated_admin_relationship(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreateDelegationArgs
) -> DelegatedAdminRelationship:
    granted("createDelegatedAdminRelationship", scope)
    tenant = await tenant_row(session, args.tenant_id, lock=True)
    actor = acting("createDelegatedAdminRelationship", scope, request_id, tenant.id, "tenant")
    if await session.get(Partner, args.partner_id) is None:
        raise BadUserInput("no such partner", field="partnerId")
    active = await session.scalar(
        select(DelegatedAdminRelationship.id).where(
            DelegatedAdminRelationship.tenant_id == tenant.id,
            DelegatedAdminRelationship.partner_id == args.partner_id,
            DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
        )
    )
    if active is not None:
        raise Conflict("the partner already holds an active delegated admin relationship on this tenant")
    relationship = DelegatedAdminRelationship(id=new_id(), tenant_id=tenant.id, partner_id=args.partner_id)
    session.add(relationship)
    await session.flush()
    audit.record(
        session,
        actor,
        "createDelegatedAdminRelationship",
        target_type="DelegatedAdminRelationship",
        target_id=relationship.id,
        tenant_id=tenant.id,
        after={"partnerId": global_id.encode("Partner", args.partner_id)},
    )
    return await shown(session, scope, Entity.DELEGATED_ADMIN_RELATIONSHIP, relationship, _RELATIONSHIP)


async def end_delegated_admin_relationship(
    session: AsyncSession, scope: CallerScope, request_id: str, relationship_id: uuid.UUID
) -> DelegatedAdminRelationship:
    """Ends the relationship, and with it the partner's admin links on the tenant's subscriptions."""
    granted("endDelegatedAdminRelationship", scope)
    relationship = await session.scalar(
        select(DelegatedAdminRelationship).where(DelegatedAdminRelationship.id == relationship_id).with_for_update()
    )
    if relationship is None:
        raise NotFound(_RELATIONSHIP)
    actor = acting(
        "endDelegatedAdminRelationship",
        scope,
        request_id,
        relationship.tenant_id,
        _RELATIONSHIP,
    )
    if relationship.status is DelegationStatus.ENDED:
        return await shown(session, scope, Entity.DELEGATED_ADMIN_RELATIONSHIP, relationship, _RELATIONSHIP)
    at = now_in_seconds()
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
        end(link, at, actor, AssociationEndReason.DELEGATION_ENDED)
    for subscription in subscriptions:
        subscription.version += 1
    await session.flush()
    audit.record(
        session,
        actor,
        "endDelegatedAdminRelationship",
        target_type="DelegatedAdminRelationship",
        target_id=relationship.id,
        tenant_id=relationship.tenant_id,
        before={"status": "ACTIVE"},
        after={
            "status": "ENDED",
            "endedAdminLinks": [global_id.encode("PartnerAssociation", link.id) for link in links],
        },
    )
    return await shown(session, scope, Entity.DELEGATED_ADMIN_RELATIONSHIP, relationship, _RELATIONSHIP)
