"""What setting, replacing and removing a Digital Partner of Record writes (step 6 of resolvers.associations), for
any number of locked, checked subscriptions at once: setDigitalPartnerOfRecord is the one-item case,
bulkSetDigitalPartnerOfRecord the many-item one, with the same statements either way.

For n subscriptions: one SELECT ... FOR UPDATE of their active DPORs (after the subscriptions, the lock order of
every change), one executemany UPDATE ending the replaced or removed rows (flushed before the new rows meet the
unique index), one multi-row INSERT of the new rows, one executemany UPDATE of the versions and one multi-row
INSERT of the audit events (resolvers.association_steps.record_changes). A subscription whose change would change
nothing (the partner already is its DPOR; it has none to remove) gets no row, no event and no version bump.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from db.association import PartnerAssociation
from db.base import new_id
from db.enums import AssociationEndReason, AssociationType
from resolvers.association_change import AssociationChange, result
from resolvers.association_steps import (
    Audited,
    Target,
    active_of_type,
    end,
    now_in_seconds,
    record_changes,
    snapshot,
    started_by,
)

DPOR = AssociationType.DIGITAL_PARTNER_OF_RECORD


async def set_dpors(
    session: AsyncSession,
    operation: str,
    targets: Sequence[Target],
    partner_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> list[AssociationChange]:
    """Make `partner_id` the DPOR of every target's subscription (each previous DPOR ends REPLACED at the instant
    the new one starts); one change per target, in order. A batch's audit events carry its `correlation_id`."""
    current = await active_of_type(session, [t.subscription.id for t in targets], DPOR)
    at = now_in_seconds()
    ended: list[tuple[Target, PartnerAssociation, dict[str, object] | None]] = []
    started: list[tuple[Target, PartnerAssociation, PartnerAssociation | None, dict[str, object] | None]] = []
    changes: dict[uuid.UUID, AssociationChange] = {}
    for item in targets:
        subscription, previous = item.subscription, current.get(item.subscription.id)
        if previous is not None and previous.partner_id == partner_id:
            # Naming the partner that already is the DPOR (at the current version) changes nothing.
            message = "the partner already is the Digital Partner of Record"
            changes[subscription.id] = result(subscription, previous, None, False, message)
            continue
        before = snapshot(previous)  # before `end` changes it
        if previous is not None:
            end(previous, at, item.actor, AssociationEndReason.REPLACED)
            ended.append((item, previous, before))
        new = PartnerAssociation(
            id=new_id(),
            subscription_id=subscription.id,
            partner_id=partner_id,
            type=DPOR,
            valid_from=at,
            **started_by(item.actor),
        )
        started.append((item, new, previous, before))
    if ended:
        await session.flush()  # the old rows must be inactive before the new ones meet the unique index
    session.add_all([new for _, new, _, _ in started])
    await record_changes(
        session,
        operation,
        [
            Audited(
                item.subscription,
                item.actor,
                ("Subscription", item.subscription.id),
                before={"digitalPartnerOfRecord": before},
                after={"digitalPartnerOfRecord": snapshot(new)},
            )
            for item, new, _, before in started
        ],
        correlation_id=correlation_id,
    )
    for item, new, previous, _ in started:
        message = "replaced" if previous is not None else "set"
        changes[item.subscription.id] = result(item.subscription, new, previous, True, message)
    return [changes[item.subscription.id] for item in targets]


async def remove_dpors(
    session: AsyncSession, operation: str, targets: Sequence[Target], *, correlation_id: str | None = None
) -> list[AssociationChange]:
    """End every target subscription's DPOR with REMOVED_BY_OWNER; one change per target, in order."""
    current = await active_of_type(session, [t.subscription.id for t in targets], DPOR)
    at = now_in_seconds()
    removed: list[tuple[Target, PartnerAssociation, dict[str, object] | None]] = []
    changes: dict[uuid.UUID, AssociationChange] = {}
    for item in targets:
        subscription, previous = item.subscription, current.get(item.subscription.id)
        if previous is None:
            message = "the subscription has no Digital Partner of Record"
            changes[subscription.id] = result(subscription, None, None, False, message)
            continue
        before = snapshot(previous)  # before `end` changes it
        end(previous, at, item.actor, AssociationEndReason.REMOVED_BY_OWNER)
        removed.append((item, previous, before))
    await record_changes(
        session,
        operation,
        [
            Audited(
                item.subscription,
                item.actor,
                ("Subscription", item.subscription.id),
                before={"digitalPartnerOfRecord": before},
                after={"digitalPartnerOfRecord": None},
            )
            for item, _, before in removed
        ],
        correlation_id=correlation_id,
    )
    for item, previous, _ in removed:
        changes[item.subscription.id] = result(item.subscription, None, previous, True, "removed")
    return [changes[item.subscription.id] for item in targets]
