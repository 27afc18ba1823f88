"""The partner's side of DPOR invitations: create one (its code shown once), revoke one, list its own.

Creating an invitation names no tenant and reads none: its audit event carries no tenant either, so only platform
admins read it. The code is returned by the first run only; a replayed idempotency key answers the same invitation
with no code, since the code is never stored (a partner that lost it revokes the invitation and creates another).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Entity, operation_reaches_partner
from auth.row_filters import visibility
from auth.scope import CallerScope
from db import clock
from db.base import new_id
from db.dpor_invitation import DporInvitation
from db.engine import Database
from resolvers import audit, global_id, idempotency
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.errors import BadUserInput, NotFound
from resolvers.in_reach import shown
from resolvers.invitations import codes, state
from resolvers.pagination import Paging, SortKey, parse_datetime, parse_uuid
from resolvers.reads.listing import Listing, list_rows

MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 90, 30
MAX_MESSAGE_LENGTH = 1000
MAX_REDEMPTIONS = 100_000

INVITATION_ORDER = SortKey(
    "dporInvitations", (DporInvitation.created_at, DporInvitation.id), (parse_datetime, parse_uuid), descending=True
)


def message(value: str | None, field: str = "message") -> str | None:
    """Free text for the owner to read: trimmed, at most MAX_MESSAGE_LENGTH characters, line breaks and tabs but no
    other control characters (NUL among them); empty is no message."""
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        raise BadUserInput(
            f"{field} is longer than {MAX_MESSAGE_LENGTH} characters", field=field, maximum=MAX_MESSAGE_LENGTH
        )
    if any(unicodedata.category(char) in ("Cc", "Cs") and char not in "\n\t" for char in cleaned):
        raise BadUserInput(f"{field} must not contain control characters", field=field)
    return cleaned


def expires_in_days(value: int, field: str = "expiresInDays") -> int:
    if not MIN_DAYS <= value <= MAX_DAYS:
        raise BadUserInput(f"{field} must be {MIN_DAYS} to {MAX_DAYS} days", field=field, maximum=MAX_DAYS)
    return value


def max_redemptions(value: int | None, field: str = "maxRedemptions") -> int | None:
    if value is not None and not 1 <= value <= MAX_REDEMPTIONS:
        raise BadUserInput(f"{field} must be 1 to {MAX_REDEMPTIONS}, or null for no limit", field=field)
    return value


def audited(invitation: DporInvitation) -> dict[str, Any]:
    """An invitation in an audit event, with global ids (never its code or hash)."""
    return {
        "invitationId": global_id.encode("DporInvitation", invitation.id),
        "partnerId": global_id.encode("Partner", invitation.partner_id),
        "message": invitation.message,
        "expiresAt": invitation.expires_at.isoformat(),
        "maxRedemptions": invitation.max_redemptions,
        "revokedAt": invitation.revoked_at.isoformat() if invitation.revoked_at else None,
    }


def _actor(operation: str, scope: CallerScope, request_id: str) -> Actor:
    role, _ = acting_grant(granted(operation, scope), scope, None, "partner")
    return Actor(scope.principal.subject, scope.principal.client_id, role, request_id)


@dataclass(frozen=True)
class CreateInvitationArgs:
    message: str | None
    expires_in_days: int
    max_redemptions: int | None
    idempotency_key: str | None


@dataclass(frozen=True)
class Created:
    invitation: DporInvitation
    # The code, shown this once; None on a replayed idempotency key.
    code: str | None


async def create_dpor_invitation(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreateInvitationArgs
) -> Created:
    operation = "createDporInvitation"
    actor = _actor(operation, scope, request_id)  # FORBIDDEN before anything is read
    if scope.partner_id is None:
        raise NotFound("partner")  # the token's MPN id names no partner (yet)
    fingerprint = idempotency.input_hash(operation, asdict(args) | {"idempotency_key": None})
    stored = await idempotency.replay(session, actor.subject, args.idempotency_key, fingerprint)
    if stored is not None:
        first = await session.get(DporInvitation, uuid.UUID(stored["invitation_id"]))
        if first is None:
            raise NotFound("invitation")
        return Created(await shown(session, scope, Entity.DPOR_INVITATION, first, "invitation"), code=None)
    at = clock.now_in_seconds()
    code = codes.new_code()
    invitation = DporInvitation(
        id=new_id(),
        partner_id=scope.partner_id,
        code_hash=codes.code_hash(code),
        message=args.message,
        created_at=at,
        expires_at=at + timedelta(days=args.expires_in_days),
        max_redemptions=args.max_redemptions,
        redemptions=0,
    )
    session.add(invitation)
    audit.record(
        session,
        actor,
        operation,
        target_type="DporInvitation",
        target_id=invitation.id,
        tenant_id=None,
        after=audited(invitation),
    )
    first_result = {"invitation_id": invitation.id.hex}
    idempotency.remember(session, actor.subject, args.idempotency_key, operation, fingerprint, first_result)
    await session.flush()
    return Created(await shown(session, scope, Entity.DPOR_INVITATION, invitation, "invitation"), code)


@dataclass(frozen=True)
class RevokeInvitationArgs:
    invitation_id: uuid.UUID


@dataclass(frozen=True)
class Revoked:
    invitation: DporInvitation
    changed: bool


async def revoke_dpor_invitation(
    session: AsyncSession, scope: CallerScope, request_id: str, args: RevokeInvitationArgs
) -> Revoked:
    """Revoked from now on: its code answers NOT_FOUND like any unknown code. Revoking twice changes nothing;
    acceptances made before stay (the associations are the owner's history)."""
    operation = "revokeDporInvitation"
    actor = _actor(operation, scope, request_id)
    statement = select(DporInvitation).where(DporInvitation.id == args.invitation_id).with_for_update()
    invitation = await session.scalar(statement)
    # Reach by the operation's grant (its own partner's), not by READ: a platform admin who is also a partner
    # reads every invitation but revokes only its own partner's.
    if invitation is None or not operation_reaches_partner(
        operation, scope.roles, invitation.partner_id, scope.partner_id
    ):
        raise NotFound("invitation")
    if invitation.revoked_at is not None:
        return Revoked(invitation, changed=False)
    before = audited(invitation)
    invitation.revoked_at = clock.now_in_seconds()
    audit.record(
        session,
        actor,
        operation,
        target_type="DporInvitation",
        target_id=invitation.id,
        tenant_id=None,
        before=before,
        after=audited(invitation),
    )
    await session.flush()
    return Revoked(await shown(session, scope, Entity.DPOR_INVITATION, invitation, "invitation"), changed=True)


async def list_dpor_invitations(
    database: Database,
    scope: CallerScope,
    partner_id: uuid.UUID,
    paging: Paging,
    statuses: Collection[state.DporInvitationStatus] | None = None,
) -> Listing[DporInvitation]:
    """A partner's invitations, newest first, under the caller's row filter (Partner.dporInvitations has checked
    that the operation's grant reaches this partner); only those whose status now is among `statuses`, when given
    (at least one: an empty list would match nothing, so it is BAD_USER_INPUT)."""
    statement = select(DporInvitation).where(DporInvitation.partner_id == partner_id)
    if statuses is not None:
        if not statuses:
            raise BadUserInput("name at least one status, or omit the status filter", field="filter.status")
        statement = statement.where(state.status_among(statuses, clock.now_in_seconds()))
    return await list_rows(
        database, statement, visible=visibility(Entity.DPOR_INVITATION, scope), key=INVITATION_ORDER, paging=paging
    )
