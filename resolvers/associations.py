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
The partial unique index on active DPORs stays as the backstop; its violation surfaces as CONFLICT.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import (
    CHANGEABLE_SUBSCRIPTION_STATUSES,
    CHANGEABLE_TENANT_STATUSES,
    CHANGES_NEED_ACTIVE_TARGET,
)
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.base import new_id
from db.enums import AssociationEndReason, AssociationType
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from resolvers import audit, global_id, idempotency
from resolvers.association_change import AssociationChange, ShownChange, result, shown_change
from resolvers.authorize import Actor, acting_grant, granted, require_condition
from resolvers.errors import BadUserInput, Conflict, NotActive, NotFound


def now_in_seconds() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def lock_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> Subscription | None:
    statement = select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    return await session.scalar(statement)


async def _target(
    session: AsyncSession,
    scope: CallerScope,
    operation: str,
    subscription_id: uuid.UUID,
    actor_request_id: str,
) -> tuple[Subscription, Actor, Any]:
    held = granted(operation, scope)
    subscription = await lock_subscription(session, subscription_id)
    if subscription is None:
        raise NotFound("subscription")
    role, grant = acting_grant(held, scope, subscription.tenant_id, "subscription")
    actor = Actor(scope.principal.subject, scope.principal.client_id, role, actor_request_id)
    return subscription, actor, grant


def _check_version(subscription: Subscription, expected: int) -> None:
    if subscription.version != expected:
        raise Conflict(
            f"subscription is at version {subscription.version}, not {expected}",
            field="expectedVersion",
            currentVersion=subscription.version,
        )


async def _require_active(session: AsyncSession, operation: str, subscription: Subscription) -> None:
    """auth.policy: association changes need an ACTIVE tenant and an ACTIVE subscription; reads are unaffected."""
    if operation not in CHANGES_NEED_ACTIVE_TARGET:
        return
    tenant = await session.get(Tenant, subscription.tenant_id)
    assert tenant is not None  # a subscription's tenant is a foreign key, never deleted
    if tenant.status not in CHANGEABLE_TENANT_STATUSES:
        raise NotActive(
            f"the tenant is {tenant.status.value}: its partner associations cannot change",
            tenantStatus=tenant.status.value,
        )
    if subscription.status not in CHANGEABLE_SUBSCRIPTION_STATUSES:
        raise NotActive(
            f"the subscription is {subscription.status.value}: its partner associations cannot change",
            field="subscriptionId",
            subscriptionStatus=subscription.status.value,
        )


async def _require_partner(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise BadUserInput("no such partner", field="partnerId")
    return partner


async def _active(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    kind: AssociationType,
    partner_id: uuid.UUID | None = None,
) -> PartnerAssociation | None:
    statement = select(PartnerAssociation).where(
        PartnerAssociation.subscription_id == subscription_id,
        PartnerAssociation.type == kind,
        PartnerAssociation.valid_to.is_(None),
    )
    if partner_id is not None:
        statement = statement.where(PartnerAssociation.partner_id == partner_id)
    return await session.scalar(statement.with_for_update())


def end(association: PartnerAssociation, at: datetime, by: Actor, reason: AssociationEndReason) -> None:
    # Never before it started: a row replaced within its first second becomes the empty interval [t, t).
    association.valid_to = max(at, association.valid_from)
    association.ended_by = by.subject
    association.ended_by_role = by.role.value
    association.ended_by_client_id = by.client_id
    association.end_reason = reason


def started_by(actor: Actor) -> dict[str, Any]:
    """The actor columns of a new association row."""
    return {
        "created_by": actor.subject,
        "created_by_role": actor.role.value,
        "created_by_client_id": actor.client_id,
    }


def _snapshot(association: PartnerAssociation | None) -> dict[str, Any] | None:
    """An association in an audit event, with the global ids the API speaks (`node(id:)` accepts them)."""
    if association is None:
        return None
    return {
        "associationId": global_id.encode("PartnerAssociation", association.id),
        "partnerId": global_id.encode("Partner", association.partner_id),
        "type": association.type.value,
        "validFrom": association.valid_from.isoformat(),
        "validTo": association.valid_to.isoformat() if association.valid_to else None,
    }


async def _once(
    session: AsyncSession,
    scope: CallerScope,
    actor: Actor,
    operation: str,
    subscription: Subscription,
    args: Any,
    apply: Callable[[], Awaitable[AssociationChange]],
) -> ShownChange:
    """Runs `apply` once per idempotency key (a repeated key with the same input replays the stored result) and
    returns what the payload shows of it, under the caller's row filters.

    A first run checks the target's status, then expectedVersion, before `apply` decides anything: a stale version
    is CONFLICT even when the request would have changed nothing (the schema promises CONFLICT on any mismatch).
    """
    key: str | None = args.idempotency_key
    fingerprint = idempotency.input_hash(operation, asdict(args) | {"idempotency_key": None})
    if (stored := await idempotency.replay(session, actor.subject, key, fingerprint)) is not None:
        return await shown_change(session, scope, subscription, AssociationChange.from_stored(stored))
    await _require_active(session, operation, subscription)
    _check_version(subscription, args.expected_version)
    change = await apply()
    idempotency.remember(session, actor.subject, key, operation, fingerprint, asdict(change))
    await session.flush()
    return await shown_change(session, scope, subscription, change)


def _record_change(
    session: AsyncSession,
    actor: Actor,
    operation: str,
    subscription: Subscription,
    *,
    target: tuple[str, uuid.UUID],
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """Every association change bumps the subscription's version and is audited with it, in its transaction."""
    previous_version = subscription.version
    subscription.version += 1
    audit.record(
        session,
        actor,
        operation,
        target_type=target[0],
        target_id=target[1],
        tenant_id=subscription.tenant_id,
        subscription_id=subscription.id,
        before=None if before is None else {"version": previous_version, **before},
        after={"version": subscription.version, **after},
    )


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
    subscription, actor, _ = await _target(session, scope, operation, args.subscription_id, request_id)

    async def apply() -> AssociationChange:
        await _require_partner(session, args.partner_id)
        current = await _active(session, subscription.id, AssociationType.DIGITAL_PARTNER_OF_RECORD)
        if current is not None and current.partner_id == args.partner_id:
            # Naming the partner that already is the DPOR (at the current version) changes nothing.
            return result(subscription, current, None, False, "the partner already is the Digital Partner of Record")
        before = _snapshot(current)  # before `end` changes it
        at = now_in_seconds()
        if current is not None:
            end(current, at, actor, AssociationEndReason.REPLACED)
            await session.flush()  # the old row must be inactive before the new one meets the unique index
        new = PartnerAssociation(
            id=new_id(),
            subscription_id=subscription.id,
            partner_id=args.partner_id,
            type=AssociationType.DIGITAL_PARTNER_OF_RECORD,
            valid_from=at,
            **started_by(actor),
        )
        session.add(new)
        _record_change(
            session,
            actor,
            operation,
            subscription,
            target=("Subscription", subscription.id),
            before={"digitalPartnerOfRecord": before},
            after={"digitalPartnerOfRecord": _snapshot(new)},
        )
        return result(subscription, new, current, True, "replaced" if current else "set")

    return await _once(session, scope, actor, operation, subscription, args, apply)


@dataclass(frozen=True)
class RemoveDporArgs:
    subscription_id: uuid.UUID
    expected_version: int
    idempotency_key: str | None


async def remove_digital_partner_of_record(
    session: AsyncSession, scope: CallerScope, request_id: str, args: RemoveDporArgs
) -> ShownChange:
    operation = "removeDigitalPartnerOfRecord"
    subscription, actor, _ = await _target(session, scope, operation, args.subscription_id, request_id)

    async def apply() -> AssociationChange:
        current = await _active(session, subscription.id, AssociationType.DIGITAL_PARTNER_OF_RECORD)
        if current is None:
            return result(subscription, None, None, False, "the subscription has no Digital Partner of Record")
        before = _snapshot(current)  # before `end` changes it
        end(current, now_in_seconds(), actor, AssociationEndReason.REMOVED_BY_OWNER)
        _record_change(
            session,
            actor,
            operation,
            subscription,
            target=("Subscription", subscription.id),
            before={"digitalPartnerOfRecord": before},
            after={"digitalPartnerOfRecord": None},
        )
        return result(subscription, None, current, True, "removed")

    return await _once(session, scope, actor, operation, subscription, args, apply)


@dataclass(frozen=True)
class LinkArgs:
    subscription_id: uuid.UUID
    partner_id: uuid.UUID
    type: AssociationType
    expected_version: int
    idempotency_key: str | None


async def link_partner(session: AsyncSession, scope: CallerScope, request_id: str, args: LinkArgs) -> ShownChange:
    operation = "linkPartner"
    if args.type is AssociationType.DIGITAL_PARTNER_OF_RECORD:
        raise BadUserInput("use setDigitalPartnerOfRecord for the Digital Partner of Record", field="type")
    subscription, actor, grant = await _target(session, scope, operation, args.subscription_id, request_id)
    is_admin_link = args.type is AssociationType.PARTNER_ADMIN_LINK
    require_condition(grant, is_admin_link=is_admin_link, partner_id=args.partner_id, scope=scope)

    async def apply() -> AssociationChange:
        await _require_partner(session, args.partner_id)
        existing = await _active(session, subscription.id, args.type, args.partner_id)
        if existing is not None:
            return result(subscription, existing, None, False, "the partner already holds this association")
        new = PartnerAssociation(
            id=new_id(),
            subscription_id=subscription.id,
            partner_id=args.partner_id,
            type=args.type,
            valid_from=now_in_seconds(),
            **started_by(actor),
        )
        session.add(new)
        _record_change(
            session,
            actor,
            operation,
            subscription,
            target=("PartnerAssociation", new.id),
            before=None,
            after={"association": _snapshot(new)},
        )
        return result(subscription, new, None, True, "linked")

    return await _once(session, scope, actor, operation, subscription, args, apply)


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
    subscription, actor, grant = await _target(session, scope, operation, association.subscription_id, request_id)
    if association.type is AssociationType.DIGITAL_PARTNER_OF_RECORD:
        raise BadUserInput("use removeDigitalPartnerOfRecord for the Digital Partner of Record", field="associationId")
    is_admin_link = association.type is AssociationType.PARTNER_ADMIN_LINK
    require_condition(grant, is_admin_link=is_admin_link, partner_id=association.partner_id, scope=scope)

    async def apply() -> AssociationChange:
        await session.refresh(association, with_for_update=True)
        if association.valid_to is not None:
            return result(subscription, None, association, False, "the association had already ended")
        before = _snapshot(association)
        end(association, now_in_seconds(), actor, AssociationEndReason.UNLINKED)
        _record_change(
            session,
            actor,
            operation,
            subscription,
            target=("PartnerAssociation", association.id),
            before={"association": before},
            after={"association": _snapshot(association)},
        )
        return result(subscription, None, association, True, "unlinked")

    return await _once(session, scope, actor, operation, subscription, args, apply)
