"""The steps every association change runs (numbered in resolvers.associations), and the row helpers that
provisioning shares: locking the subscription, reaching it, the status and version checks, ending and starting rows,
the audit event with its version bump, and the once-per-idempotency-key run that returns what the payload shows.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import (
    CHANGEABLE_SUBSCRIPTION_STATUSES,
    CHANGEABLE_TENANT_STATUSES,
    CHANGES_NEED_ACTIVE_TARGET,
)
from auth.scope import CallerScope
from db import clock
from db.association import PartnerAssociation
from db.enums import AssociationEndReason, AssociationType
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from resolvers import audit, global_id, idempotency
from resolvers.association_change import AssociationChange, ShownChange, shown_change
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.errors import BadUserInput, Conflict, NotActive, NotFound


def now_in_seconds() -> datetime:
    """The server's clock (db.clock) at the precision of association intervals."""
    return clock.now_in_seconds()


async def lock_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> Subscription | None:
    statement = select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    return await session.scalar(statement)


async def target(
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


def check_version(subscription: Subscription, expected: int) -> None:
    if subscription.version != expected:
        raise Conflict(
            f"subscription is at version {subscription.version}, not {expected}",
            field="expectedVersion",
            currentVersion=subscription.version,
        )


async def require_active(session: AsyncSession, operation: str, subscription: Subscription) -> None:
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


async def require_partner(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise BadUserInput("no such partner", field="partnerId")
    return partner


async def active(
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
    association.ended_by_role = by.role_name
    association.ended_by_client_id = by.client_id
    association.end_reason = reason


def started_by(actor: Actor) -> dict[str, Any]:
    """The actor columns of a new association row."""
    return {
        "created_by": actor.subject,
        "created_by_role": actor.role_name,
        "created_by_client_id": actor.client_id,
    }


def snapshot(association: PartnerAssociation | None) -> dict[str, Any] | None:
    """An association in an audit event, with the global ids the API speaks (`node(id:)` accepts them)."""
    if association is None:
        return None
    return {
        "associationId": global_id.encode("PartnerAssociation", association.id),
        "partnerId": global_id.encode("Partner", association.partner_id),
        "type": association.type.value,
        "validFrom": association.valid_from.isoformat(),
        "validTo": association.valid_to.isoformat() if association.valid_to else None,
        "recognitionRole": association.recognition_role.value if association.recognition_role else None,
        "status": association.status.value if association.status else "ACTIVE",
    }


async def once(
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
    await require_active(session, operation, subscription)
    check_version(subscription, args.expected_version)
    change = await apply()
    idempotency.remember(session, actor.subject, key, operation, fingerprint, asdict(change))
    await session.flush()
    return await shown_change(session, scope, subscription, change)


def record_change(
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
