"""Claims of partner of record, with a decline window (CPOR-style, issue 14).

A partner with delegated admin access to a customer tenant claims recognition on that tenant's subscriptions; the
tenant's owner may decline a claim within the decline window; an undeclined claim becomes ACTIVE when the window
ends, attributed from its claim time. A claim is a CLAIMING_PARTNER_OF_RECORD association with a status
(db.enums.AssociationStatus); it never touches the Digital Partner of Record.

- `claim_partner_of_record` (DELEGATED_ADMIN, while its relationship is active, checked again under a lock in the
  claim's transaction: resolvers.access): for each subscription, all or nothing, a PENDING claim naming the caller's
  own partner, validFrom the claim's instant, declineBy that instant plus the window
  (DPOR_CLAIM_DECLINE_WINDOW_DAYS, fixed on the row when claimed). A subscription where the partner's claim is
  already pending or in effect keeps it. Outside the caller's tenant, or absent: NOT_FOUND.
- `decline_claim` (OWNER): before declineBy, the claim ends now with CUSTOMER_DECLINED and becomes DECLINED, never
  attributed; at or after declineBy it is CONFLICT (the window closed), whether or not the sweep has recorded it.
- `ripen` (resolvers.sweep): a PENDING claim past its declineBy becomes ACTIVE, validFrom unchanged.

Attribution counts ACTIVE associations only (resolvers/usage/conditions.py), so a claim counts from its claim time
once ripened and never before. Each change bumps the subscription's version and is audited in its transaction, as
every association change (resolvers.association_steps).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Entity
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.base import new_id
from db.enums import AssociationEndReason, AssociationStatus, AssociationType, RecognitionRole
from db.subscription import Subscription
from resolvers import access, idempotency
from resolvers.association_change import AssociationChange, ShownChange, as_written, result, shown_change, written
from resolvers.association_steps import (
    active,
    end,
    lock_subscription,
    not_active,
    now_in_seconds,
    record_change,
    snapshot,
    started_by,
    target,
    tenant_statuses,
)
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.errors import BadUserInput, Conflict, Forbidden, NotFound
from resolvers.in_reach import visible

MAX_SUBSCRIPTIONS = 100
MAX_EVIDENCE_BYTES = 4_096
CLAIM = AssociationType.CLAIMING_PARTNER_OF_RECORD
# The audit action of a claim the sweep made ACTIVE (the actor is the gateway itself).
RIPENED = "claimRipened"


@dataclass(frozen=True)
class ClaimArgs:
    subscription_ids: tuple[uuid.UUID, ...]  # distinct, in the caller's order
    workload: str
    evidence: str
    recognition_role: RecognitionRole | None
    idempotency_key: str | None
    # The decline window in force (the setting): not part of the request, so not of its idempotency fingerprint.
    decline_window_days: int = 30

    def fingerprint(self, operation: str) -> str:
        return idempotency.input_hash(
            operation,
            {
                "subscription_ids": [subscription_id.hex for subscription_id in self.subscription_ids],
                "workload": self.workload,
                "evidence": self.evidence,
                "recognition_role": self.recognition_role.value if self.recognition_role else None,
            },
        )


@dataclass(frozen=True)
class Claims:
    """What claimPartnerOfRecord did: one claim per subscription asked for, in its order, as the transaction left
    it (a replay: as the first request's did)."""

    claims: tuple[PartnerAssociation, ...]
    changed: bool


def evidence(value: str, field: str = "evidence") -> str:
    """The partner's evidence: text, non-empty, at most 4 KB of UTF-8, no NUL (PostgreSQL text cannot hold one)."""
    if not value.strip():
        raise BadUserInput(f"{field} must not be empty", field=field)
    if "\x00" in value:
        raise BadUserInput(f"{field} must not contain NUL characters", field=field)
    if len(value.encode("utf-8")) > MAX_EVIDENCE_BYTES:
        raise BadUserInput(
            f"{field} is longer than {MAX_EVIDENCE_BYTES} bytes of UTF-8", field=field, maximum=MAX_EVIDENCE_BYTES
        )
    return value


def subscription_ids(values: Sequence[uuid.UUID], field: str = "subscriptionIds") -> tuple[uuid.UUID, ...]:
    if not 1 <= len(values) <= MAX_SUBSCRIPTIONS:
        raise BadUserInput(f"{field} must list 1 to {MAX_SUBSCRIPTIONS} subscriptions", field=field)
    if len(set(values)) != len(values):
        raise BadUserInput(f"{field} lists a subscription twice", field=field)
    return tuple(values)


async def claim_partner_of_record(
    session: AsyncSession, scope: CallerScope, request_id: str, args: ClaimArgs
) -> Claims:
    operation = "claimPartnerOfRecord"
    held = granted(operation, scope)  # FORBIDDEN before any lookup
    fingerprint = args.fingerprint(operation)
    stored = await idempotency.replay(session, scope.principal.subject, args.idempotency_key, fingerprint)
    if stored is not None:
        rows = tuple(as_written(snapshot) for snapshot in stored["claims"])
        return Claims(await _shown(session, scope, rows), bool(stored["changed"]))
    # The access the role stands for, locked before the subscriptions as the relationship's end locks it: the role
    # was decided when the request began, and a relationship ended since leaves nothing to claim with.
    assert scope.tenant_id is not None and scope.partner_id is not None  # a delegated admin's scope names both
    if await access.lock_access(session, scope.tenant_id, scope.partner_id, now_in_seconds()) is None:
        raise Forbidden("the delegated admin relationship has ended")
    # Locked in id order, as every writer of several subscriptions locks them (no deadlock between two claims).
    locked: dict[uuid.UUID, Subscription] = {}
    for subscription_id in sorted(args.subscription_ids):
        subscription = await lock_subscription(session, subscription_id)
        if subscription is not None:
            locked[subscription_id] = subscription
    # Reach first, for every subscription, so that NOT_ACTIVE below never tells anything of another tenant.
    actor: Actor | None = None
    for index, subscription_id in enumerate(args.subscription_ids):
        subscription = locked.get(subscription_id)
        if subscription is None:
            raise NotFound("subscription", field="subscriptionIds", index=index)
        try:
            role, _ = acting_grant(held, scope, subscription.tenant_id, "subscription")
        except NotFound:
            raise NotFound("subscription", field="subscriptionIds", index=index) from None
        actor = Actor(scope.principal.subject, scope.principal.client_id, role, request_id)
    assert actor is not None and scope.partner_id is not None  # a delegated admin's scope names its partner
    statuses = await tenant_statuses(session, {subscription.tenant_id for subscription in locked.values()})
    for subscription_id in args.subscription_ids:  # one statement for the tenants, whatever the count
        subscription = locked[subscription_id]
        if (refused := not_active(operation, statuses[subscription.tenant_id], subscription)) is not None:
            raise refused
    at = now_in_seconds()
    decline_by = at + timedelta(days=args.decline_window_days)
    claims, changed = [], False
    for subscription_id in args.subscription_ids:
        subscription = locked[subscription_id]
        existing = await active(session, subscription.id, CLAIM, scope.partner_id)
        if existing is not None:  # pending, or in effect: the partner's claim stands as it is
            claims.append(existing)
            continue
        claim = PartnerAssociation(
            id=new_id(),
            subscription_id=subscription.id,
            partner_id=scope.partner_id,
            type=CLAIM,
            status=AssociationStatus.PENDING,
            valid_from=at,
            decline_by=decline_by,
            recognition_role=args.recognition_role,
            claim_workload=args.workload,
            claim_evidence=args.evidence,
            **started_by(actor),
        )
        session.add(claim)
        await record_change(
            session,
            actor,
            operation,
            subscription,
            target=("PartnerAssociation", claim.id),
            before=None,
            after={"association": snapshot(claim), "declineBy": decline_by.isoformat(), "workload": args.workload},
        )
        claims.append(claim)
        changed = True
    await session.flush()
    recorded = {"claims": [written(claim) for claim in claims], "changed": changed}
    idempotency.remember(session, actor.subject, args.idempotency_key, operation, fingerprint, recorded)
    await session.flush()
    return Claims(await _shown(session, scope, tuple(claims)), changed)


async def _shown(
    session: AsyncSession, scope: CallerScope, rows: tuple[PartnerAssociation, ...]
) -> tuple[PartnerAssociation, ...]:
    """The claims, each one the caller sees (one statement); NOT_FOUND otherwise (the payload never leaks)."""
    seen = await visible(session, scope, *((Entity.PARTNER_ASSOCIATION, row.id) for row in rows))
    if not all(seen):
        raise NotFound("claim")
    return rows


@dataclass(frozen=True)
class DeclineArgs:
    claim_id: uuid.UUID
    idempotency_key: str | None


async def decline_claim(session: AsyncSession, scope: CallerScope, request_id: str, args: DeclineArgs) -> ShownChange:
    operation = "declineClaim"
    held = granted(operation, scope)  # FORBIDDEN before any lookup
    claim = await session.get(PartnerAssociation, args.claim_id)
    tenant_id = None
    if claim is not None:
        tenant_id = await session.scalar(select(Subscription.tenant_id).where(Subscription.id == claim.subscription_id))
    # Reach first, one answer: a claim of another tenant is exactly as not found as one that never existed.
    if claim is None or tenant_id is None:
        raise NotFound("claim")
    acting_grant(held, scope, tenant_id, "claim")
    subscription, actor, _ = await target(session, scope, operation, claim.subscription_id, request_id)
    if claim.type is not CLAIM or claim.decline_by is None:
        raise BadUserInput("not a claim (only a claimed CLAIMING_PARTNER_OF_RECORD can be declined)", field="claimId")
    fingerprint = idempotency.input_hash(operation, {"claim_id": args.claim_id.hex})
    if (stored := await idempotency.replay(session, actor.subject, args.idempotency_key, fingerprint)) is not None:
        return await shown_change(session, scope, subscription, AssociationChange.from_stored(stored))
    await session.refresh(claim, with_for_update=True)
    change = await _decline(session, actor, operation, subscription, claim)
    idempotency.remember(session, actor.subject, args.idempotency_key, operation, fingerprint, _stored(change))
    await session.flush()
    return await shown_change(session, scope, subscription, change)


async def _decline(
    session: AsyncSession, actor: Actor, operation: str, subscription: Subscription, claim: PartnerAssociation
) -> AssociationChange:
    assert claim.decline_by is not None
    if claim.status is AssociationStatus.DECLINED:
        return result(subscription, None, claim, False, "the claim was already declined")
    at = now_in_seconds()
    if claim.status is AssociationStatus.ACTIVE or at >= claim.decline_by:
        raise Conflict(
            f"the claim's decline window closed at {claim.decline_by.isoformat()}: it is in effect",
            field="claimId",
            declineBy=claim.decline_by.isoformat(),
        )
    if claim.valid_to is not None:  # its subscription was deleted: it ended unattributed
        return result(subscription, None, claim, False, "the claim had already ended")
    before = snapshot(claim)
    claim.status = AssociationStatus.DECLINED
    end(claim, at, actor, AssociationEndReason.CUSTOMER_DECLINED)
    await record_change(
        session,
        actor,
        operation,
        subscription,
        target=("PartnerAssociation", claim.id),
        before={"association": before},
        after={"association": snapshot(claim)},
    )
    return result(subscription, None, claim, True, "declined")


def _stored(change: AssociationChange) -> dict[str, Any]:
    return asdict(change)


async def due_to_ripen(session: AsyncSession, now: datetime, limit: int) -> Sequence[uuid.UUID]:
    """Pending claims whose decline window has passed, earliest first (ix_partner_associations_pending_decline_by)."""
    statement = (
        select(PartnerAssociation.id)
        .where(
            PartnerAssociation.status == AssociationStatus.PENDING,
            PartnerAssociation.decline_by <= now,
            PartnerAssociation.valid_to.is_(None),
        )
        .order_by(PartnerAssociation.decline_by)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def ripen(session: AsyncSession, actor: Actor, claim_id: uuid.UUID, now: datetime) -> bool:
    """Makes one pending claim past its window ACTIVE, attributed from its claim time; False when it was declined or
    ripened meanwhile. Locks its subscription first, as every association change does."""
    found = await session.get(PartnerAssociation, claim_id)
    if found is None:
        return False
    subscription = await lock_subscription(session, found.subscription_id)
    assert subscription is not None  # associations are never deleted, nor their subscriptions
    await session.refresh(found, with_for_update=True)
    if found.status is not AssociationStatus.PENDING or found.valid_to is not None:
        return False
    if found.decline_by is None or found.decline_by > now:
        return False
    before = snapshot(found)
    found.status = AssociationStatus.ACTIVE
    await record_change(
        session,
        actor,
        RIPENED,
        subscription,
        target=("PartnerAssociation", found.id),
        before={"association": before},
        after={"association": snapshot(found)},
    )
    await session.flush()
    return True
