"""What an association change did, as its transaction wrote it, and what its payload may show of that.

The result records the version and the association rows as written, so the payload never shows a later writer's
state and a replayed idempotency key answers exactly what the first request did. It is stored as the idempotent
result (JSON); `shown_change` turns it into the payload's rows, each under the caller's row filters.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Entity
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.enums import AssociationEndReason, AssociationStatus, AssociationType, RecognitionRole
from db.subscription import Subscription
from resolvers.errors import NotFound
from resolvers.in_reach import visible_among


@dataclass(frozen=True)
class AssociationChange:
    """What a mutation did, as its transaction wrote it; stored as the idempotent result and turned into the payload.

    `subscription_version` and the association snapshots (`written`) are the state at commit of this transaction,
    not re-read afterwards: a later writer cannot show through, and a replay answers what the first request did.
    """

    subscription_id: str
    association_id: str | None
    previous_association_id: str | None
    changed: bool
    message: str
    # None only in results stored before versions were recorded (the payload then reads the current state).
    subscription_version: int | None = None
    association: dict[str, Any] | None = None
    previous_association: dict[str, Any] | None = None

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> AssociationChange:
        known = {name: stored[name] for name in cls.__dataclass_fields__ if name in stored}
        return cls(**known)


def written(association: PartnerAssociation | None) -> dict[str, Any] | None:
    """A row's columns as this transaction leaves them (JSON-safe, for the idempotency record)."""
    if association is None:
        return None
    return {
        "id": association.id.hex,
        "subscription_id": association.subscription_id.hex,
        "partner_id": association.partner_id.hex,
        "type": association.type.value,
        "valid_from": association.valid_from.isoformat(),
        "valid_to": association.valid_to.isoformat() if association.valid_to else None,
        "created_by": association.created_by,
        "created_by_role": association.created_by_role,
        "created_by_client_id": association.created_by_client_id,
        "ended_by": association.ended_by,
        "ended_by_role": association.ended_by_role,
        "ended_by_client_id": association.ended_by_client_id,
        "end_reason": association.end_reason.value if association.end_reason else None,
        "recognition_role": association.recognition_role.value if association.recognition_role else None,
        "status": association.status.value if association.status else AssociationStatus.ACTIVE.value,
        "decline_by": association.decline_by.isoformat() if association.decline_by else None,
        "claim_workload": association.claim_workload,
        "claim_evidence": association.claim_evidence,
    }


def as_written(snapshot: dict[str, Any]) -> PartnerAssociation:
    """A detached row holding a `written` snapshot, for the payload (never added to a session)."""
    return PartnerAssociation(
        id=uuid.UUID(snapshot["id"]),
        subscription_id=uuid.UUID(snapshot["subscription_id"]),
        partner_id=uuid.UUID(snapshot["partner_id"]),
        type=AssociationType(snapshot["type"]),
        valid_from=datetime.fromisoformat(snapshot["valid_from"]),
        valid_to=datetime.fromisoformat(snapshot["valid_to"]) if snapshot["valid_to"] else None,
        created_by=snapshot["created_by"],
        created_by_role=snapshot.get("created_by_role"),
        created_by_client_id=snapshot.get("created_by_client_id"),
        ended_by=snapshot["ended_by"],
        ended_by_role=snapshot.get("ended_by_role"),
        ended_by_client_id=snapshot.get("ended_by_client_id"),
        end_reason=AssociationEndReason(snapshot["end_reason"]) if snapshot["end_reason"] else None,
        # These are absent from results recorded before revision 0004.
        recognition_role=RecognitionRole(role) if (role := snapshot.get("recognition_role")) else None,
        status=AssociationStatus(snapshot.get("status", AssociationStatus.ACTIVE.value)),
        decline_by=datetime.fromisoformat(declined) if (declined := snapshot.get("decline_by")) else None,
        claim_workload=snapshot.get("claim_workload"),
        claim_evidence=snapshot.get("claim_evidence"),
    )


def result(
    subscription: Subscription,
    current: PartnerAssociation | None,
    previous: PartnerAssociation | None,
    changed: bool,
    message: str,
) -> AssociationChange:
    return AssociationChange(
        subscription_id=subscription.id.hex,
        association_id=current.id.hex if current else None,
        previous_association_id=previous.id.hex if previous else None,
        changed=changed,
        message=message,
        subscription_version=subscription.version,
        association=written(current),
        previous_association=written(previous),
    )


@dataclass(frozen=True)
class ShownChange:
    """An association change's payload: its rows as the change left them, each one the caller may see."""

    subscription: Subscription
    # The version this change wrote (a replay: the first request's), never a later writer's; the row's other
    # fields are as locked by this transaction.
    subscription_version: int
    association: PartnerAssociation | None
    previous_association: PartnerAssociation | None
    changed: bool
    message: str


def _recorded(change: AssociationChange) -> tuple[PartnerAssociation | None, PartnerAssociation | None]:
    """The association rows as written (None for a result stored before rows were recorded: read them now)."""
    return (
        as_written(change.association) if change.association else None,
        as_written(change.previous_association) if change.previous_association else None,
    )


async def _now(session: AsyncSession, association_id: str | None) -> PartnerAssociation | None:
    return await session.get(PartnerAssociation, uuid.UUID(association_id)) if association_id else None


async def shown_change(
    session: AsyncSession, scope: CallerScope, subscription: Subscription, change: AssociationChange
) -> ShownChange:
    """The payload of `change` on the locked `subscription` (`shown_changes` for one)."""
    (shown,) = await shown_changes(session, scope, [(subscription, change)])
    return shown


async def shown_changes(
    session: AsyncSession, scope: CallerScope, changes: Sequence[tuple[Subscription, AssociationChange]]
) -> list[ShownChange]:
    """The payloads of changes on locked subscriptions, under the caller's row filters, in one statement however
    many: every subscription must be visible (NOT_FOUND otherwise, which rolls the change back); an association
    the caller cannot see is null, as a hidden partner is on any association read."""
    rows: list[tuple[PartnerAssociation | None, PartnerAssociation | None]] = []
    for _, change in changes:
        if change.subscription_version is not None:
            rows.append(_recorded(change))
        else:  # stored before rows were recorded: as they are now (rare, and only for single changes)
            rows.append(
                (await _now(session, change.association_id), await _now(session, change.previous_association_id))
            )
    seen = await visible_among(
        session,
        scope,
        {
            Entity.SUBSCRIPTION: [subscription.id for subscription, _ in changes],
            Entity.PARTNER_ASSOCIATION: [row.id for pair in rows for row in pair if row is not None],
        },
    )
    shown: list[ShownChange] = []
    for (subscription, change), (current, previous) in zip(changes, rows, strict=True):
        if subscription.id not in seen[Entity.SUBSCRIPTION]:
            raise NotFound("subscription")
        associations = seen[Entity.PARTNER_ASSOCIATION]
        shown.append(
            ShownChange(
                subscription=subscription,
                subscription_version=subscription.version
                if change.subscription_version is None
                else change.subscription_version,
                association=current if current is not None and current.id in associations else None,
                previous_association=previous if previous is not None and previous.id in associations else None,
                changed=change.changed,
                message=change.message,
            )
        )
    return shown
