"""The owner's side of DPOR invitations: preview, accept for subscriptions of its own tenant, decline.

Order of the checks, so that a caller learns nothing it may not:
1. the role (auth.policy: only OWNER): FORBIDDEN before any lookup, and nothing is taken from the guess budget;
2. the guess budget (codes.CodeGuard): RATE_LIMITED before the code is looked up, once spent;
3. the code, by its hash: unknown, expired, revoked and used up are one NOT_FOUND ("invitation not found"), each
   one failed lookup;
4. (accept) each subscription through setDigitalPartnerOfRecord's own resolver, in one transaction: a subscription
   outside the owner's tenant is NOT_FOUND, a stale expectedVersion CONFLICT, a tenant or subscription that is not
   ACTIVE NOT_ACTIVE; any failure rolls everything back, and the error names the item (`index`, `field`).

An acceptance locks the invitation row first (SELECT ... FOR UPDATE; SQLite's BEGIN IMMEDIATE serializes writers),
so two owners racing for the last redemption of an invitation cannot both get it; the subscriptions are then
locked in id order, so two acceptances over the same subscriptions cannot deadlock. It counts one redemption however
many subscriptions it names, and writes setDigitalPartnerOfRecord's history row and audit event per subscription
plus one `acceptDporInvitation` event on the tenant naming the invitation. A replayed idempotency key answers the
first acceptance's result as recorded, also after the invitation was used up, revoked or expired.

A decline writes an audit event on the owner's tenant and changes nothing else: a code may be meant for many
customers (max_redemptions), so one owner's "no" does not end it for the others, and the partner is not told who
declined (it learns of acceptances only through its ordinary attributed view).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.scope import CallerScope
from db.dpor_invitation import DporInvitation
from db.engine import Database
from db.partner import Partner
from resolvers import audit, global_id, idempotency
from resolvers.association_change import AssociationChange, ShownChange, shown_change, written
from resolvers.association_steps import lock_subscription
from resolvers.associations import SetDporArgs, set_digital_partner_of_record
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.errors import BadUserInput, Conflict, GatewayError, NotFound
from resolvers.invitations import codes, state
from resolvers.invitations.codes import CodeGuard
from resolvers.mutation import Work

MAX_SUBSCRIPTIONS = 100


@dataclass(frozen=True)
class Preview:
    """What an owner sees of an invitation before deciding: who invites it, why, until when."""

    partner_name: str
    partner_mpn_id: str
    message: str | None
    expires_at: datetime


async def _redeemable(session: AsyncSession, code: str, guard: CodeGuard, *, lock: bool = False) -> DporInvitation:
    invitation = await _by_code(session, code, lock=lock)
    if invitation is None or not state.redeemable(invitation, state.now()):
        await _refuse(guard)
    return invitation


async def _by_code(session: AsyncSession, code: str, *, lock: bool) -> DporInvitation | None:
    statement = select(DporInvitation).where(DporInvitation.code_hash == codes.code_hash(code))
    return await session.scalar(statement.with_for_update() if lock else statement)


async def _refuse(guard: CodeGuard) -> NoReturn:
    """The one answer to a code that redeems nothing, whatever the reason."""
    await guard.failed()
    raise NotFound("invitation")


async def _preview(session: AsyncSession, invitation: DporInvitation) -> Preview:
    partner = await session.get(Partner, invitation.partner_id)
    assert partner is not None  # a foreign key, never deleted
    return Preview(partner.name, partner.mpn_id, invitation.message, invitation.expires_at)


def _owner(operation: str, scope: CallerScope, request_id: str) -> Actor:
    """The owner acting on its own tenant: FORBIDDEN for any other role, NOT_FOUND when the token's tenant is
    unknown (there is nothing of its own to accept for or decline on)."""
    role, _ = acting_grant(granted(operation, scope), scope, scope.tenant_id, "invitation")
    return Actor(scope.principal.subject, scope.principal.client_id, role, request_id)


async def preview_dpor_invitation(database: Database, scope: CallerScope, code: str, guard: CodeGuard) -> Preview:
    granted("dporInvitation", scope)
    await guard.admit()
    async with database.read() as session:
        invitation = await _redeemable(session, code, guard)
        return await _preview(session, invitation)


@dataclass(frozen=True)
class DeclineArgs:
    code: str


async def decline_dpor_invitation(
    session: AsyncSession, scope: CallerScope, request_id: str, args: DeclineArgs, guard: CodeGuard
) -> Preview:
    operation = "declineDporInvitation"
    actor = _owner(operation, scope, request_id)
    await guard.admit()
    invitation = await _redeemable(session, args.code, guard)
    assert scope.tenant_id is not None  # _owner: the acting owner's tenant is known
    audit.record(
        session,
        actor,
        operation,
        target_type="DporInvitation",
        target_id=invitation.id,
        tenant_id=scope.tenant_id,
        after={
            "invitationId": global_id.encode("DporInvitation", invitation.id),
            "partnerId": global_id.encode("Partner", invitation.partner_id),
        },
    )
    return await _preview(session, invitation)


@dataclass(frozen=True)
class ChosenSubscription:
    subscription_id: uuid.UUID
    expected_version: int


def chosen_subscriptions(items: Sequence[ChosenSubscription]) -> list[ChosenSubscription]:
    """1 to MAX_SUBSCRIPTIONS subscriptions, each once (a second mention could only be a stale version)."""
    if not 1 <= len(items) <= MAX_SUBSCRIPTIONS:
        raise BadUserInput(
            f"subscriptions must list 1 to {MAX_SUBSCRIPTIONS} subscriptions",
            field="subscriptions",
            maximum=MAX_SUBSCRIPTIONS,
        )
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(items):
        if item.subscription_id in seen:
            raise BadUserInput("a subscription is listed twice", field=f"subscriptions[{index}].subscriptionId")
        seen.add(item.subscription_id)
    return list(items)


@dataclass(frozen=True)
class AcceptArgs:
    code: str
    subscriptions: Sequence[ChosenSubscription]
    idempotency_key: str | None


@dataclass(frozen=True)
class Accepted:
    partner: Partner
    # In the order the subscriptions were given.
    changes: list[ShownChange]


async def accept_dpor_invitation(
    session: AsyncSession, scope: CallerScope, request_id: str, args: AcceptArgs, guard: CodeGuard
) -> Accepted:
    operation = "acceptDporInvitation"
    actor = _owner(operation, scope, request_id)
    await guard.admit()
    invitation = await _by_code(session, args.code, lock=True)
    if invitation is None:
        await _refuse(guard)
    # The fingerprint holds the code's hash, as the table does: the idempotency record redeems nothing either.
    fingerprint = idempotency.input_hash(
        operation,
        {
            "code_hash": invitation.code_hash,
            "subscriptions": [[item.subscription_id.hex, item.expected_version] for item in args.subscriptions],
        },
    )
    redeemable = state.redeemable(invitation, state.now())
    try:
        stored = await idempotency.replay(session, actor.subject, args.idempotency_key, fingerprint)
    except Conflict:
        # A key reused with another input is CONFLICT for a live code only: for a dead one it would tell the code
        # from an unknown one.
        if not redeemable:
            await _refuse(guard)
        raise
    if stored is not None:
        return await _replayed(session, scope, invitation, stored)
    if not redeemable:
        await _refuse(guard)
    changes = await _set_each(session, scope, request_id, invitation.partner_id, args.subscriptions)
    invitation.redemptions += 1
    assert scope.tenant_id is not None  # _owner: the acting owner's tenant is known
    audit.record(
        session,
        actor,
        operation,
        target_type="DporInvitation",
        target_id=invitation.id,
        tenant_id=scope.tenant_id,
        after={
            "invitationId": global_id.encode("DporInvitation", invitation.id),
            "partnerId": global_id.encode("Partner", invitation.partner_id),
            "subscriptionIds": [global_id.encode("Subscription", change.subscription.id) for change in changes],
        },
    )
    recorded = {"changes": [asdict(_as_recorded(change)) for change in changes]}
    idempotency.remember(session, actor.subject, args.idempotency_key, operation, fingerprint, recorded)
    await session.flush()
    partner = await session.get(Partner, invitation.partner_id)
    assert partner is not None
    return Accepted(partner, changes)


async def _set_each(
    session: AsyncSession,
    scope: CallerScope,
    request_id: str,
    partner_id: uuid.UUID,
    chosen: Sequence[ChosenSubscription],
) -> list[ShownChange]:
    """setDigitalPartnerOfRecord for each subscription, in id order (the lock order), answered in input order."""
    done: dict[int, ShownChange] = {}
    for index in sorted(range(len(chosen)), key=lambda position: chosen[position].subscription_id):
        item = chosen[index]
        try:
            done[index] = await set_digital_partner_of_record(
                session,
                scope,
                request_id,
                SetDporArgs(item.subscription_id, partner_id, item.expected_version, idempotency_key=None),
            )
        except GatewayError as error:
            raise _of_item(error, index) from None
    return [done[index] for index in range(len(chosen))]


def _of_item(error: GatewayError, index: int) -> GatewayError:
    """The error of one subscription, naming it: `index` in the input list, `field` under `subscriptions[index]`."""
    field = error.extensions.get("field") or "subscriptionId"
    error.extensions.update(index=index, field=f"subscriptions[{index}].{field}")
    return error


def _as_recorded(change: ShownChange) -> AssociationChange:
    """What an acceptance stores per subscription for a replay: the change as its transaction wrote it (the
    owner sees every row of its own tenant, so the shown rows are the written ones)."""
    return AssociationChange(
        subscription_id=change.subscription.id.hex,
        association_id=change.association.id.hex if change.association else None,
        previous_association_id=change.previous_association.id.hex if change.previous_association else None,
        changed=change.changed,
        message=change.message,
        subscription_version=change.subscription_version,
        association=written(change.association),
        previous_association=written(change.previous_association),
    )


async def _replayed(
    session: AsyncSession, scope: CallerScope, invitation: DporInvitation, stored: dict[str, Any]
) -> Accepted:
    recorded = [AssociationChange.from_stored(change) for change in stored["changes"]]
    shown: dict[int, ShownChange] = {}
    for index in sorted(range(len(recorded)), key=lambda position: recorded[position].subscription_id):
        subscription = await lock_subscription(session, uuid.UUID(recorded[index].subscription_id))
        if subscription is None:
            raise NotFound("subscription")
        shown[index] = await shown_change(session, scope, subscription, recorded[index])
    partner = await session.get(Partner, invitation.partner_id)
    assert partner is not None
    return Accepted(partner, [shown[index] for index in range(len(recorded))])


def accepting(guard: CodeGuard) -> Work[AcceptArgs, Accepted]:
    """accept_dpor_invitation as a mutation's work (resolvers.mutation.perform), with this operation's guard."""

    async def work(session: AsyncSession, scope: CallerScope, request_id: str, args: AcceptArgs) -> Accepted:
        return await accept_dpor_invitation(session, scope, request_id, args, guard)

    return work


def declining(guard: CodeGuard) -> Work[DeclineArgs, Preview]:
    async def work(session: AsyncSession, scope: CallerScope, request_id: str, args: DeclineArgs) -> Preview:
        return await decline_dpor_invitation(session, scope, request_id, args, guard)

    return work
