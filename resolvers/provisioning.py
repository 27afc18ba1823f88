"""Provisioning for admin tooling: tenants, contacts, partners, subscriptions, delegated admin relationships.

Each function runs inside the caller's write transaction and records its audit event there. Uniqueness clashes
(an external id or MPN id already taken) surface as CONFLICT from the transaction wrapper.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.base import new_id
from db.delegation import DelegatedAdminRelationship
from db.enums import (
    AssociationEndReason,
    AssociationType,
    DelegationStatus,
    Offer,
    SubscriptionStatus,
    TenantStatus,
)
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from resolvers import audit, global_id
from resolvers.associations import end, now_in_seconds
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.errors import BadUserInput, Conflict, NotFound


def _actor(operation: str, scope: CallerScope, request_id: str, tenant_id: uuid.UUID | None, what: str) -> Actor:
    role, _ = acting_grant(granted(operation, scope), scope, tenant_id, what)
    return Actor(scope.principal.subject, scope.principal.client_id, role, request_id)


async def _tenant(session: AsyncSession, tenant_id: uuid.UUID, *, lock: bool = False) -> Tenant:
    statement = select(Tenant).where(Tenant.id == tenant_id)
    tenant = await session.scalar(statement.with_for_update() if lock else statement)
    if tenant is None:
        raise NotFound("tenant")
    return tenant


def _tenant_state(tenant: Tenant) -> dict[str, Any]:
    return {
        "displayName": tenant.display_name,
        "primaryDomain": tenant.primary_domain,
        "countryCode": tenant.country_code,
        "status": tenant.status.value,
    }


@dataclass(frozen=True)
class CreateTenantArgs:
    external_id: uuid.UUID
    display_name: str
    primary_domain: str
    country_code: str


async def create_tenant(session: AsyncSession, scope: CallerScope, request_id: str, args: CreateTenantArgs) -> Tenant:
    actor = _actor("createTenant", scope, request_id, None, "tenant")
    if await session.scalar(select(Tenant.id).where(Tenant.external_id == args.external_id)) is not None:
        raise Conflict("a tenant with this externalId exists", field="externalId")
    tenant = Tenant(
        id=new_id(),
        external_id=args.external_id,
        display_name=args.display_name,
        primary_domain=args.primary_domain,
        country_code=args.country_code,
    )
    session.add(tenant)
    await session.flush()
    audit.record(
        session,
        actor,
        "createTenant",
        target_type="Tenant",
        target_id=tenant.id,
        tenant_id=tenant.id,
        after=_tenant_state(tenant),
    )
    return tenant


@dataclass(frozen=True)
class UpdateTenantArgs:
    tenant_id: uuid.UUID
    display_name: str | None
    primary_domain: str | None
    country_code: str | None
    status: TenantStatus | None


async def update_tenant(session: AsyncSession, scope: CallerScope, request_id: str, args: UpdateTenantArgs) -> Tenant:
    granted("updateTenant", scope)
    tenant = await _tenant(session, args.tenant_id, lock=True)
    actor = _actor("updateTenant", scope, request_id, tenant.id, "tenant")
    before = _tenant_state(tenant)
    for attribute in ("display_name", "primary_domain", "country_code", "status"):
        if (value := getattr(args, attribute)) is not None:
            setattr(tenant, attribute, value)
    tenant.updated_at = datetime.now(UTC)
    await session.flush()
    audit.record(
        session,
        actor,
        "updateTenant",
        target_type="Tenant",
        target_id=tenant.id,
        tenant_id=tenant.id,
        before=before,
        after=_tenant_state(tenant),
    )
    return tenant


@dataclass(frozen=True)
class AddContactArgs:
    tenant_id: uuid.UUID
    name: str
    email: str
    phone: str | None


async def add_tenant_contact(
    session: AsyncSession, scope: CallerScope, request_id: str, args: AddContactArgs
) -> tuple[Tenant, TenantContact]:
    granted("addTenantContact", scope)
    tenant = await _tenant(session, args.tenant_id)
    actor = _actor("addTenantContact", scope, request_id, tenant.id, "tenant")
    contact = TenantContact(id=new_id(), tenant_id=tenant.id, name=args.name, email=args.email, phone=args.phone)
    session.add(contact)
    await session.flush()
    # Personal data stays out of the audit log: it records that a contact was added, not who it is.
    audit.record(
        session,
        actor,
        "addTenantContact",
        target_type="Tenant",
        target_id=tenant.id,
        tenant_id=tenant.id,
        after={"contactId": contact.id.hex},
    )
    return tenant, contact


@dataclass(frozen=True)
class CreatePartnerArgs:
    mpn_id: str
    name: str
    country_code: str


async def create_partner(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreatePartnerArgs
) -> Partner:
    actor = _actor("createPartner", scope, request_id, None, "partner")
    if await session.scalar(select(Partner.id).where(Partner.mpn_id == args.mpn_id)) is not None:
        raise Conflict("a partner with this mpnId exists", field="mpnId")
    partner = Partner(id=new_id(), mpn_id=args.mpn_id, name=args.name, country_code=args.country_code)
    session.add(partner)
    await session.flush()
    audit.record(
        session,
        actor,
        "createPartner",
        target_type="Partner",
        target_id=partner.id,
        tenant_id=None,
        after={"mpnId": partner.mpn_id, "name": partner.name, "countryCode": partner.country_code},
    )
    return partner


@dataclass(frozen=True)
class CreateSubscriptionArgs:
    tenant_id: uuid.UUID
    external_id: str
    offer: Offer
    display_name: str


async def create_subscription(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreateSubscriptionArgs
) -> Subscription:
    granted("createSubscription", scope)
    tenant = await _tenant(session, args.tenant_id)
    actor = _actor("createSubscription", scope, request_id, tenant.id, "tenant")
    if await session.scalar(select(Subscription.id).where(Subscription.external_id == args.external_id)):
        raise Conflict("a subscription with this externalId exists", field="externalId")
    subscription = Subscription(
        id=new_id(),
        tenant_id=tenant.id,
        external_id=args.external_id,
        offer=args.offer,
        display_name=args.display_name,
    )
    session.add(subscription)
    await session.flush()
    audit.record(
        session,
        actor,
        "createSubscription",
        target_type="Subscription",
        target_id=subscription.id,
        tenant_id=tenant.id,
        subscription_id=subscription.id,
        after={
            "externalId": subscription.external_id,
            "offer": args.offer.value,
            "displayName": subscription.display_name,
        },
    )
    return subscription


@dataclass(frozen=True)
class SetStatusArgs:
    subscription_id: uuid.UUID
    status: SubscriptionStatus


async def set_subscription_status(
    session: AsyncSession, scope: CallerScope, request_id: str, args: SetStatusArgs
) -> Subscription:
    from resolvers.associations import lock_subscription

    granted("setSubscriptionStatus", scope)
    subscription = await lock_subscription(session, args.subscription_id)
    if subscription is None:
        raise NotFound("subscription")
    actor = _actor("setSubscriptionStatus", scope, request_id, subscription.tenant_id, "subscription")
    before = subscription.status
    if before is SubscriptionStatus.DELETED and args.status is not SubscriptionStatus.DELETED:
        raise BadUserInput("a deleted subscription cannot be reactivated", field="status")
    ended: list[str] = []
    if args.status is SubscriptionStatus.DELETED and before is not SubscriptionStatus.DELETED:
        at = now_in_seconds()
        active = (
            await session.scalars(
                select(PartnerAssociation)
                .where(
                    PartnerAssociation.subscription_id == subscription.id,
                    PartnerAssociation.valid_to.is_(None),
                )
                .with_for_update()
            )
        ).all()
        for association in active:
            end(association, at, actor, AssociationEndReason.SUBSCRIPTION_DELETED)
            ended.append(global_id.encode("PartnerAssociation", association.id))
        if active:
            subscription.version += 1
    subscription.status = args.status
    await session.flush()
    audit.record(
        session,
        actor,
        "setSubscriptionStatus",
        target_type="Subscription",
        target_id=subscription.id,
        tenant_id=subscription.tenant_id,
        subscription_id=subscription.id,
        before={"status": before.value},
        after={"status": args.status.value, "endedAssociations": ended},
    )
    return subscription


@dataclass(frozen=True)
class CreateDelegationArgs:
    tenant_id: uuid.UUID
    partner_id: uuid.UUID


async def create_delegated_admin_relationship(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreateDelegationArgs
) -> DelegatedAdminRelationship:
    granted("createDelegatedAdminRelationship", scope)
    tenant = await _tenant(session, args.tenant_id, lock=True)
    actor = _actor("createDelegatedAdminRelationship", scope, request_id, tenant.id, "tenant")
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
    return relationship


async def end_delegated_admin_relationship(
    session: AsyncSession, scope: CallerScope, request_id: str, relationship_id: uuid.UUID
) -> DelegatedAdminRelationship:
    """Ends the relationship, and with it the partner's admin links on the tenant's subscriptions."""
    granted("endDelegatedAdminRelationship", scope)
    relationship = await session.scalar(
        select(DelegatedAdminRelationship).where(DelegatedAdminRelationship.id == relationship_id).with_for_update()
    )
    if relationship is None:
        raise NotFound("delegated admin relationship")
    actor = _actor(
        "endDelegatedAdminRelationship",
        scope,
        request_id,
        relationship.tenant_id,
        "delegated admin relationship",
    )
    if relationship.status is DelegationStatus.ENDED:
        return relationship
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
    return relationship
