"""Changing partner associations: set, replace or remove the DPOR; link and unlink the other types.

Every change runs in one write transaction that:
1. locks the subscription row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the
   write lock), so concurrent changes to one subscription are serialized;
2. checks that the target is in the caller's reach before revealing anything about it (a foreign id and an id that
   does not exist answer the same NOT_FOUND);
3. replays or refuses a repeated idempotency key;
4. refuses a change on a tenant or subscription that is not ACTIVE (NOT_ACTIVE, auth.policy);
5. checks expectedVersion against the locked row: any mismatch is CONFLICT and writes nothing, even when the request
   would have changed nothing;
6. ends the old row and starts the new one at the same server instant (no backdating), bumps the version, and
   writes the audit event, whose `before` is taken before anything changes and whose ids are global ids.
The result records what the transaction wrote (resolvers.association_change), so the payload never shows a later
writer's state and a replay answers exactly what the first request did; what the payload shows of it passes the
caller's row filters.
The partial unique index on active DPORs stays as the backstop; its violation surfaces as CONFLICT. Steps 1-5 and
the audit of step 6 are resolvers.association_steps; what a DPOR change writes is resolvers.dpor_changes (set-based:
a single change is its one-item case, resolvers.bulk_associations its many-item one); link and unlink decide here.
A PARTNER_ADMIN_LINK locks its partner's delegated admin relationship on the tenant before the subscription
(resolvers.access): the relationship's end then never misses a link set meanwhile, and a delegated admin whose
relationship ended after its request began is FORBIDDEN.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Role
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.base import new_id
from db.enums import AssociationEndReason, AssociationStatus, AssociationType, RecognitionRole
from db.subscription import Subscription
from resolvers import access
from resolvers.association_change import AssociationChange, ShownChange, result
from resolvers.association_steps import (
    Target,
    active,
    end,
    now_in_seconds,
    once,
    record_change,
    require_partner,
    snapshot,
    started_by,
    target,
)
from resolvers.authorize import acting_grant, granted, require_condition
from resolvers.dpor_changes import remove_dpors, set_dpors
from resolvers.errors import BadUserInput, Forbidden, NotFound


@dataclass(frozen=True)
class SetDporArgs:
    subscription_id: uuid.UUID
    partner_id: uuid.UUID
    expected_version: int
    idempotency_key: str | None


async def set_digital_partner_of_record(
    session: AsyncSession, scope: CallerScope, request_id: str, args: SetDporArgs
) -> ShownChange:
    operation = "setDigitalPartnerOfRecord"
    subscription, actor, grant = await target(session, scope, operation, args.subscription_id, request_id)

    async def apply() -> AssociationChange:
        await require_partner(session, args.partner_id)
        (change,) = await set_dpors(session, operation, [Target(subscription, actor, grant)], args.partner_id)
        return change

    return await once(session, scope, actor, operation, subscription, args, apply)


@dataclass(frozen=True)
class RemoveDporArgs:
    subscription_id: uuid.UUID
    expected_version: int
    idempotency_key: str | None


async def remove_digital_partner_of_record(
    session: AsyncSession, scope: CallerScope, request_id: str, args: RemoveDporArgs
) -> ShownChange:
    operation = "removeDigitalPartnerOfRecord"
    subscription, actor, grant = await target(session, scope, operation, args.subscription_id, request_id)

    async def apply() -> AssociationChange:
        (change,) = await remove_dpors(session, operation, [Target(subscription, actor, grant)])
        return change

    return await once(session, scope, actor, operation, subscription, args, apply)


@dataclass(frozen=True)
class LinkArgs:
    subscription_id: uuid.UUID
    partner_id: uuid.UUID
    type: AssociationType
    expected_version: int
    idempotency_key: str | None
    recognition_role: RecognitionRole | None = None


async def link_partner(session: AsyncSession, scope: CallerScope, request_id: str, args: LinkArgs) -> ShownChange:
    operation = "linkPartner"
    if args.type is AssociationType.DIGITAL_PARTNER_OF_RECORD:
        raise BadUserInput("use setDigitalPartnerOfRecord for the Digital Partner of Record", field="type")
    is_admin_link = args.type is AssociationType.PARTNER_ADMIN_LINK
    access_held = None
    if is_admin_link:
        # The partner's access, locked before the subscription as its end locks it (resolvers.access).
        granted(operation, scope)  # FORBIDDEN before any lookup
        tenant_id = await access.tenant_of(session, args.subscription_id)
        if tenant_id is not None:
            access_held = await access.lock_access(session, tenant_id, args.partner_id, now_in_seconds())
    subscription, actor, grant = await target(session, scope, operation, args.subscription_id, request_id)
    require_condition(grant, is_admin_link=is_admin_link, partner_id=args.partner_id, scope=scope)

    async def apply() -> AssociationChange:
        await require_partner(session, args.partner_id)
        if is_admin_link and access_held is None and actor.role is Role.DELEGATED_ADMIN:
            # Its role held when the request began; the relationship ended before this transaction locked it.
            raise Forbidden("the delegated admin relationship has ended")
        existing = await active(session, subscription.id, args.type, args.partner_id)
        if existing is not None:
            return result(subscription, existing, None, False, "the partner already holds this association")
        new = PartnerAssociation(
            id=new_id(),
            subscription_id=subscription.id,
            partner_id=args.partner_id,
            type=args.type,
            valid_from=now_in_seconds(),
            recognition_role=args.recognition_role,
            **started_by(actor),
        )
        session.add(new)
        await record_change(
            session,
            actor,
            operation,
            subscription,
            target=("PartnerAssociation", new.id),
            before=None,
            after={"association": snapshot(new)},
        )
        return result(subscription, new, None, True, "linked")

    return await once(session, scope, actor, operation, subscription, args, apply)


@dataclass(frozen=True)
class UnlinkArgs:
    association_id: uuid.UUID
    expected_version: int
    idempotency_key: str | None


async def unlink_partner(session: AsyncSession, scope: CallerScope, request_id: str, args: UnlinkArgs) -> ShownChange:
    operation = "unlinkPartner"
    held = granted(operation, scope)  # FORBIDDEN before any lookup
    association = await session.get(PartnerAssociation, args.association_id)
    # Reach first, one answer: an association of another tenant is exactly as not found as one that never existed.
    tenant_id = None
    if association is not None:
        tenant_id = await session.scalar(
            select(Subscription.tenant_id).where(Subscription.id == association.subscription_id)
        )
    if association is None or tenant_id is None:
        raise NotFound("partner association")
    acting_grant(held, scope, tenant_id, "partner association")
    subscription, actor, grant = await target(session, scope, operation, association.subscription_id, request_id)
    if association.type is AssociationType.DIGITAL_PARTNER_OF_RECORD:
        raise BadUserInput("use removeDigitalPartnerOfRecord for the Digital Partner of Record", field="associationId")
    if association.status is AssociationStatus.PENDING:
        # Only the owner declines a claim, and only within its window (resolvers.claims).
        raise BadUserInput("a pending claim is declined with declineClaim, not unlinked", field="associationId")
    is_admin_link = association.type is AssociationType.PARTNER_ADMIN_LINK
    require_condition(grant, is_admin_link=is_admin_link, partner_id=association.partner_id, scope=scope)

    async def apply() -> AssociationChange:
        await session.refresh(association, with_for_update=True)
        if association.valid_to is not None:
            return result(subscription, None, association, False, "the association had already ended")
        before = snapshot(association)
        end(association, now_in_seconds(), actor, AssociationEndReason.UNLINKED)
        await record_change(
            session,
            actor,
            operation,
            subscription,
            target=("PartnerAssociation", association.id),
            before={"association": before},
            after={"association": snapshot(association)},
        )
        return result(subscription, None, association, True, "unlinked")

    return await once(session, scope, actor, operation, subscription, args, apply)
