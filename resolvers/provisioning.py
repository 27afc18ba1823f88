"""Provisioning for admin tooling: tenants, contacts, partners, subscriptions (delegations: resolvers.delegations).

Each function runs inside the caller's write transaction and records its audit event there. Uniqueness clashes
(an external id or MPN id already taken) surface as CONFLICT from the transaction wrapper. What each returns is the
row as the transaction left it, checked against the caller's row filters (resolvers.in_reach).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Entity
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.base import new_id
from db.enums import (
    AssociationEndReason,
    Offer,
    SubscriptionStatus,
    TenantStatus,
)
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from resolvers import audit, global_id
from resolvers.association_steps import end, lock_subscription, now_in_seconds, snapshot
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.errors import BadUserInput, Conflict, NotFound
from resolvers.in_reach import shown, visible


def acting(operation: str, scope: CallerScope, request_id: str, tenant_id: uuid.UUID | None, what: str) -> Actor:
    """Who acts, in which of its roles: the operation's grant that reaches the target's tenant (None: no tenant)."""
    role, _ = acting_grant(granted(operation, scope), scope, tenant_id, what)
    return Actor(scope.principal.subject, scope.principal.client_id, role, request_id)


async def tenant_row(session: AsyncSession, tenant_id: uuid.UUID, *, lock: bool = False) -> Tenant:
    """The target tenant (locked FOR UPDATE when asked), or NOT_FOUND; its reach is checked by `acting`."""
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
    actor = acting("createTenant", scope, request_id, None, "tenant")
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
    return await shown(session, scope, Entity.TENANT, tenant, "tenant")


@dataclass(frozen=True)
class UpdateTenantArgs:
    tenant_id: uuid.UUID
    display_name: str | None
    primary_domain: str | None
    country_code: str | None
    status: TenantStatus | None


async def update_tenant(session: AsyncSession, scope: CallerScope, request_id: str, args: UpdateTenantArgs) -> Tenant:
    granted("updateTenant", scope)
    tenant = await tenant_row(session, args.tenant_id, lock=True)
    actor = acting("updateTenant", scope, request_id, tenant.id, "tenant")
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
    return await shown(session, scope, Entity.TENANT, tenant, "tenant")


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
    tenant = await tenant_row(session, args.tenant_id)
    actor = acting("addTenantContact", scope, request_id, tenant.id, "tenant")
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
    if not all(await visible(session, scope, (Entity.TENANT, tenant.id), (Entity.CONTACT, contact.id))):
        raise NotFound("tenant")
    return tenant, contact


@dataclass(frozen=True)
class CreatePartnerArgs:
    mpn_id: str
    name: str
    country_code: str


async def create_partner(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreatePartnerArgs
) -> Partner:
    actor = acting("createPartner", scope, request_id, None, "partner")
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
    return await shown(session, scope, Entity.PARTNER, partner, "partner")


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
    tenant = await tenant_row(session, args.tenant_id)
    actor = acting("createSubscription", scope, request_id, tenant.id, "tenant")
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
    return await shown(session, scope, Entity.SUBSCRIPTION, subscription, "subscription")


@dataclass(frozen=True)
class SetStatusArgs:
    subscription_id: uuid.UUID
    status: SubscriptionStatus


async def set_subscription_status(
    session: AsyncSession, scope: CallerScope, request_id: str, args: SetStatusArgs
) -> Subscription:
    granted("setSubscriptionStatus", scope)
    subscription = await lock_subscription(session, args.subscription_id)
    if subscription is None:
        raise NotFound("subscription")
    actor = acting("setSubscriptionStatus", scope, request_id, subscription.tenant_id, "subscription")
    before = subscription.status
    if before is SubscriptionStatus.DELETED and args.status is not SubscriptionStatus.DELETED:
        raise BadUserInput("a deleted subscription cannot be reactivated", field="status")
    ended: list[str] = []
    ended_rows: list[dict[str, Any] | None] = []  # as the change event tells them (resolvers.change_events)
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
            ended_rows.append(snapshot(association))
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
        after={"status": args.status.value, "endedAssociations": ended, "endedAssociationRows": ended_rows},
    )
    return await shown(session, scope, Entity.SUBSCRIPTION, subscription, "subscription")
