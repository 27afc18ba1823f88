"""The steps every association change runs (numbered in resolvers.associations), and the row helpers that
provisioning shares: locking the subscription, reaching it, the status and version checks, ending and starting rows,
the audit event with its version bump, and the once-per-idempotency-key run that returns what the payload shows.

The steps are set-based (`lock_subscriptions`, `reach`, `refusals`, `record_changes`): a single change is the
one-item case, a batch (resolvers.bulk_associations) runs the same steps over all its subscriptions with the same
number of statements. A check step returns each item's typed error instead of raising it, so a batch can list
every failing item; a single change raises its one error as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import (
    CHANGEABLE_SUBSCRIPTION_STATUSES,
    CHANGEABLE_TENANT_STATUSES,
    CHANGES_NEED_ACTIVE_TARGET,
    Grant,
)
from auth.scope import CallerScope
from db import clock
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.change_event import ChangeEvent
from db.change_notifications import mark_changed
from db.enums import AssociationEndReason, AssociationType, TenantStatus
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from resolvers import audit, global_id, idempotency
from resolvers.association_change import AssociationChange, ShownChange, shown_change
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.errors import BadUserInput, Conflict, GatewayError, NotActive, NotFound


def now_in_seconds() -> datetime:
    """The server's clock (db.clock) at the precision of association intervals."""
    return clock.now_in_seconds()


async def lock_subscriptions(
    session: AsyncSession, subscription_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Subscription]:
    """The subscriptions that exist among `subscription_ids`, locked FOR UPDATE in id order (SQLite's BEGIN
    IMMEDIATE already holds the write lock). Every writer that locks several subscriptions takes them in id order,
    and a single change holds one before its associations, so no two changes can wait on each other in a cycle."""
    if not subscription_ids:
        return {}
    statement = (
        select(Subscription)
        .where(Subscription.id.in_(sorted(set(subscription_ids))))
        .order_by(Subscription.id)
        .with_for_update()
    )
    return {subscription.id: subscription for subscription in await session.scalars(statement)}


async def lock_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> Subscription | None:
    return (await lock_subscriptions(session, [subscription_id])).get(subscription_id)


@dataclass(frozen=True, slots=True)
class Target:
    """A locked subscription in the caller's reach, and who acts on it under which grant."""

    subscription: Subscription
    actor: Actor
    grant: Grant


async def reach(
    session: AsyncSession,
    scope: CallerScope,
    operation: str,
    subscription_ids: Sequence[uuid.UUID],
    actor_request_id: str,
) -> list[Target | GatewayError]:
    """Steps 1-2 for each id: FORBIDDEN (raised) before any lookup when no held role may perform the operation;
    then every subscription locked in one statement, and each one's Target, or NOT_FOUND when it does not exist or
    no held role reaches it (the two answers are the same)."""
    held = granted(operation, scope)
    locked = await lock_subscriptions(session, subscription_ids)
    reached: list[Target | GatewayError] = []
    for subscription_id in subscription_ids:
        subscription = locked.get(subscription_id)
        try:
            if subscription is None:
                raise NotFound("subscription")
            role, grant = acting_grant(held, scope, subscription.tenant_id, "subscription")
        except NotFound as missing:
            reached.append(missing)
            continue
        actor = Actor(scope.principal.subject, scope.principal.client_id, role, actor_request_id)
        reached.append(Target(subscription, actor, grant))
    return reached


async def target(
    session: AsyncSession,
    scope: CallerScope,
    operation: str,
    subscription_id: uuid.UUID,
    actor_request_id: str,
) -> tuple[Subscription, Actor, Any]:
    (reached,) = await reach(session, scope, operation, [subscription_id], actor_request_id)
    if isinstance(reached, GatewayError):
        raise reached
    return reached.subscription, reached.actor, reached.grant


def version_conflict(subscription: Subscription, expected: int) -> Conflict | None:
    if subscription.version == expected:
        return None
    return Conflict(
        f"subscription is at version {subscription.version}, not {expected}",
        field="expectedVersion",
        currentVersion=subscription.version,
    )


async def tenant_statuses(session: AsyncSession, tenant_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, TenantStatus]:
    if not tenant_ids:
        return {}
    rows = await session.execute(select(Tenant.id, Tenant.status).where(Tenant.id.in_(sorted(set(tenant_ids)))))
    return {tenant_id: status for tenant_id, status in rows.all()}


def not_active(operation: str, tenant_status: TenantStatus, subscription: Subscription) -> NotActive | None:
    """auth.policy: association changes need an ACTIVE tenant and an ACTIVE subscription; reads are unaffected."""
    if operation not in CHANGES_NEED_ACTIVE_TARGET:
        return None
    if tenant_status not in CHANGEABLE_TENANT_STATUSES:
        return NotActive(
            f"the tenant is {tenant_status.value}: its partner associations cannot change",
            tenantStatus=tenant_status.value,
        )
    if subscription.status not in CHANGEABLE_SUBSCRIPTION_STATUSES:
        return NotActive(
            f"the subscription is {subscription.status.value}: its partner associations cannot change",
            field="subscriptionId",
            subscriptionStatus=subscription.status.value,
        )
    return None


async def refusals(
    session: AsyncSession, operation: str, checked: Sequence[tuple[Subscription, int]]
) -> list[GatewayError | None]:
    """Steps 4-5 for each (locked subscription, expectedVersion): NOT_ACTIVE when its tenant or itself is not
    ACTIVE, else CONFLICT on any version mismatch, else None. One statement for the tenants, whatever the count."""
    statuses = await tenant_statuses(session, {subscription.tenant_id for subscription, _ in checked})
    # A subscription's tenant is a foreign key, never deleted: every status is there.
    refused: list[GatewayError | None] = []
    for subscription, expected in checked:
        inactive = not_active(operation, statuses[subscription.tenant_id], subscription)
        refused.append(inactive if inactive is not None else version_conflict(subscription, expected))
    return refused


async def require_partner(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise BadUserInput("no such partner", field="partnerId")
    return partner


async def active_of_type(
    session: AsyncSession, subscription_ids: Collection[uuid.UUID], kind: AssociationType
) -> dict[uuid.UUID, PartnerAssociation]:
    """Each subscription's active association of a type held at most once (the DPOR), locked FOR UPDATE after its
    subscription (the lock order of every change): one statement for any number of subscriptions."""
    if not subscription_ids:
        return {}
    statement = select(PartnerAssociation).where(
        PartnerAssociation.subscription_id.in_(sorted(set(subscription_ids))),
        PartnerAssociation.type == kind,
        PartnerAssociation.valid_to.is_(None),
    )
    rows = await session.scalars(statement.order_by(PartnerAssociation.subscription_id).with_for_update())
    return {row.subscription_id: row for row in rows}


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
    (refused,) = await refusals(session, operation, [(subscription, args.expected_version)])
    if refused is not None:
        raise refused
    change = await apply()
    idempotency.remember(session, actor.subject, key, operation, fingerprint, asdict(change))
    await session.flush()
    return await shown_change(session, scope, subscription, change)


@dataclass(frozen=True, slots=True)
class Audited:
    """One association change to record: the subscription whose version it bumps, who acted, the object acted on
    and its state before (None: it did not exist) and after."""

    subscription: Subscription
    actor: Actor
    target: tuple[str, uuid.UUID]
    before: dict[str, Any] | None
    after: dict[str, Any]


async def record_changes(
    session: AsyncSession, operation: str, changes: Sequence[Audited], *, correlation_id: str | None = None
) -> None:
    """Every association change bumps its subscription's version and is audited with it, in its transaction: the
    version bumps go out as one executemany UPDATE at the next flush, the audit events as one multi-row INSERT.
    The events of a batch carry its `correlation_id`; their change events (resolvers.change_events) go out as one
    more multi-row INSERT."""
    events: list[dict[str, Any]] = []
    for change in changes:
        subscription = change.subscription
        previous_version = subscription.version
        subscription.version += 1
        events.append(
            audit.row(
                change.actor,
                operation,
                target_type=change.target[0],
                target_id=change.target[1],
                tenant_id=subscription.tenant_id,
                subscription_id=subscription.id,
                before=None if change.before is None else {"version": previous_version, **change.before},
                after={"version": subscription.version, **change.after},
                correlation_id=correlation_id,
            )
        )
    if events:
        await session.execute(insert(AuditEvent), events)
        if changes_told := audit.change_event_rows(events):
            await session.execute(insert(ChangeEvent), changes_told)
            mark_changed(session)


async def record_change(
    session: AsyncSession,
    actor: Actor,
    operation: str,
    subscription: Subscription,
    *,
    target: tuple[str, uuid.UUID],
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """`record_changes` for one change."""
    await record_changes(session, operation, [Audited(subscription, actor, target, before, after)])
