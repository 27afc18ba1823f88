"""The owner's side of DPOR invitations: preview, accept for subscriptions of its own tenant, decline.

Order of the checks, so that a caller learns nothing it may not:
1. the role (auth.policy: only OWNER): FORBIDDEN before any lookup, and nothing is taken from the guess budget;
2. the guess budget (codes.CodeGuard): RATE_LIMITED before the code is looked up, once spent;
3. the code, by its hash: unknown, expired, revoked and used up are one NOT_FOUND ("invitation not found"), each
   one failed lookup;
4. (accept) setDigitalPartnerOfRecord's steps over all the subscriptions at once, set-based as
   bulkSetDigitalPartnerOfRecord runs them (resolvers.association_steps, resolvers.dpor_changes), in one
   transaction: a subscription outside the owner's tenant is NOT_FOUND, a stale expectedVersion CONFLICT, a tenant
   or subscription that is not ACTIVE NOT_ACTIVE; any failure writes nothing, and the error is the first failing
   item's (lowest position), naming it (`index`, `field`), with every failing item in `problems` as bulk changes
   list them.

An acceptance locks the invitation row first (SELECT ... FOR UPDATE; SQLite's BEGIN IMMEDIATE serializes writers),
so two owners racing for the last redemption of an invitation cannot both get it; the subscriptions are then
locked in one statement in id order, so acceptances, batches and single changes over the same subscriptions cannot
deadlock. It counts one redemption however many subscriptions it names, and writes setDigitalPartnerOfRecord's
history row and audit event per subscription plus one `acceptDporInvitation` event on the tenant naming the
invitation, all carrying one correlation id. Statements do not grow with the number of subscriptions. A replayed
idempotency key answers the first acceptance's result as recorded, also after the invitation was used up, revoked
or expired.

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
from db import clock, row_security
from db.base import new_id
from db.dpor_invitation import DporInvitation
from db.engine import Database
from db.partner import Partner
from resolvers import audit, global_id, idempotency
from resolvers.association_change import AssociationChange, ShownChange, shown_changes
from resolvers.association_steps import Target, lock_subscriptions, reach, refusals
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.dpor_changes import set_dpors
from resolvers.errors import BadUserInput, Conflict, GatewayError, ItemProblem, NotFound
from resolvers.invitations import codes, state
from resolvers.invitations.codes import CodeGuard
from resolvers.mutation import Work

MAX_SUBSCRIPTIONS = 100
ACCEPT = "acceptDporInvitation"
# The operation whose rules, history rows and audit events an acceptance writes per subscription.
SET_DPOR = "setDigitalPartnerOfRecord"


@dataclass(frozen=True)
class Preview:
    """What an owner sees of an invitation before deciding: who invites it, why, until when."""

    partner_name: str
    partner_mpn_id: str
    message: str | None
    expires_at: datetime


async def _redeemable(session: AsyncSession, code: str, guard: CodeGuard, *, lock: bool = False) -> DporInvitation:
    invitation = await _by_code(session, code, lock=lock)
    if invitation is None or not state.redeemable(invitation, clock.now_in_seconds()):
        await _refuse(guard)
    return invitation


async def _by_code(session: AsyncSession, code: str, *, lock: bool) -> DporInvitation | None:
    code_hash = codes.code_hash(code)
    await row_security.present_invitation_code(session, code_hash)
    statement = select(DporInvitation).where(DporInvitation.code_hash == code_hash)
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
    async with guard.admitted(), database.read() as session:
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
    async with guard.admitted():
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
    # On every audit event the acceptance wrote (None: replaying one recorded before acceptances had one).
    correlation_id: str | None


async def accept_dpor_invitation(
    session: AsyncSession, scope: CallerScope, request_id: str, args: AcceptArgs, guard: CodeGuard
) -> Accepted:
    actor = _owner(ACCEPT, scope, request_id)
    async with guard.admitted():
        return await _accept(session, scope, args, guard, actor)


async def _accept(
    session: AsyncSession, scope: CallerScope, args: AcceptArgs, guard: CodeGuard, actor: Actor
) -> Accepted:
    operation, request_id = ACCEPT, actor.request_id
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
    redeemable = state.redeemable(invitation, clock.now_in_seconds())
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
    correlation_id = new_id().hex
    written, changes = await _set_all(
        session, scope, request_id, invitation.partner_id, args.subscriptions, correlation_id
    )
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
        correlation_id=correlation_id,
    )
    recorded = {"correlation_id": correlation_id, "changes": [asdict(change) for change in written]}
    idempotency.remember(session, actor.subject, args.idempotency_key, operation, fingerprint, recorded)
    await session.flush()
    partner = await session.get(Partner, invitation.partner_id)
    assert partner is not None
    return Accepted(partner, changes, correlation_id)


async def _set_all(
    session: AsyncSession,
    scope: CallerScope,
    request_id: str,
    partner_id: uuid.UUID,
    chosen: Sequence[ChosenSubscription],
    correlation_id: str,
) -> tuple[list[AssociationChange], list[ShownChange]]:
    """setDigitalPartnerOfRecord over every chosen subscription, set-based: locked in one statement (id order) and
    reached, checked, set. The changes as written (what a replay answers) and as the payload shows them, both in
    input order."""
    reached = await reach(session, scope, SET_DPOR, [item.subscription_id for item in chosen], request_id)
    problems = {index: found for index, found in enumerate(reached) if isinstance(found, GatewayError)}
    checked = [(index, found) for index, found in enumerate(reached) if isinstance(found, Target)]
    refused = await refusals(
        session, SET_DPOR, [(found.subscription, chosen[index].expected_version) for index, found in checked]
    )
    problems |= {index: error for (index, _), error in zip(checked, refused, strict=True) if error is not None}
    if problems:
        # Every failing item, as a bulk change lists them; the error itself is the first one's, naming it.
        listed = [ItemProblem(index, error).as_extension() for index, error in sorted(problems.items())]
        first = min(problems)
        first_error = _of_item(problems[first], first)
        first_error.extensions["problems"] = listed
        raise first_error
    targets = [found for _, found in checked]
    changes = await set_dpors(session, SET_DPOR, targets, partner_id, correlation_id=correlation_id)
    await session.flush()
    shown = await shown_changes(session, scope, [(t.subscription, c) for t, c in zip(targets, changes, strict=True)])
    return changes, shown


def _of_item(error: GatewayError, index: int) -> GatewayError:
    """The error of one subscription, naming it: `index` in the input list, `field` under `subscriptions[index]`."""
    field = error.extensions.get("field") or "subscriptionId"
    error.extensions.update(index=index, field=f"subscriptions[{index}].{field}")
    return error


async def _replayed(
    session: AsyncSession, scope: CallerScope, invitation: DporInvitation, stored: dict[str, Any]
) -> Accepted:
    recorded = [AssociationChange.from_stored(change) for change in stored["changes"]]
    ids = [uuid.UUID(change.subscription_id) for change in recorded]
    locked = await lock_subscriptions(session, ids)
    if len(locked) != len(ids):
        raise NotFound("subscription")
    shown = await shown_changes(
        session, scope, [(locked[sub], change) for sub, change in zip(ids, recorded, strict=True)]
    )
    partner = await session.get(Partner, invitation.partner_id)
    assert partner is not None
    return Accepted(partner, shown, stored.get("correlation_id"))


def accepting(guard: CodeGuard) -> Work[AcceptArgs, Accepted]:
    """accept_dpor_invitation as a mutation's work (resolvers.mutation.perform), with this operation's guard."""

    async def work(session: AsyncSession, scope: CallerScope, request_id: str, args: AcceptArgs) -> Accepted:
        return await accept_dpor_invitation(session, scope, request_id, args, guard)

    return work


def declining(guard: CodeGuard) -> Work[DeclineArgs, Preview]:
    async def work(session: AsyncSession, scope: CallerScope, request_id: str, args: DeclineArgs) -> Preview:
        return await decline_dpor_invitation(session, scope, request_id, args, guard)

    return work
