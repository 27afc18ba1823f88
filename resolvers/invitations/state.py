"""An invitation's status, derived from its row and an instant of the server's clock (db.clock, which tests move).

REVOKED wins over everything (the partner withdrew it), then USED_UP (max_redemptions reached), then EXPIRED (at or
after expires_at); anything else is ACTIVE, the only status that can be previewed, accepted or declined.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, FromClause, and_, case, false, literal, not_, or_

from db import clock
from db.dpor_invitation import DporInvitation


class DporInvitationStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    USED_UP = "USED_UP"


def status(invitation: DporInvitation, at: datetime) -> DporInvitationStatus:
    if invitation.revoked_at is not None:
        return DporInvitationStatus.REVOKED
    if invitation.max_redemptions is not None and invitation.redemptions >= invitation.max_redemptions:
        return DporInvitationStatus.USED_UP
    if at >= invitation.expires_at:
        return DporInvitationStatus.EXPIRED
    return DporInvitationStatus.ACTIVE


def status_among(statuses: Collection[DporInvitationStatus], at: datetime) -> ColumnElement[bool]:
    """SQL for "`status(row, at)` is one of `statuses`", with `status`'s precedence (tested to agree with it)."""
    revoked = DporInvitation.revoked_at.is_not(None)
    used_up = and_(
        DporInvitation.max_redemptions.is_not(None), DporInvitation.redemptions >= DporInvitation.max_redemptions
    )
    expired = DporInvitation.expires_at <= at
    live = and_(not_(revoked), not_(used_up))
    conditions = {
        DporInvitationStatus.REVOKED: revoked,
        DporInvitationStatus.USED_UP: and_(not_(revoked), used_up),
        DporInvitationStatus.EXPIRED: and_(live, expired),
        DporInvitationStatus.ACTIVE: and_(live, not_(expired)),
    }
    chosen = [conditions[given] for given in DporInvitationStatus if given in statuses]
    return or_(*chosen) if chosen else false()


def status_case(at: datetime | ColumnElement[datetime], rows: FromClause | None = None) -> ColumnElement[str]:
    """SQL for `status(row, at)`: the status's name, with `status`'s precedence and comparisons (REVOKED, then
    USED_UP, then EXPIRED from `expires_at` on: `at >= expires_at`), on `rows` (any FROM item with the table's
    column names: an alias, a page of one; default the table). Tested to agree with `status` on both databases;
    the compiled path (resolvers/compiled/invitations.py) writes an invitation's `status` with it, at the bound
    instant of the gateway's clock."""
    row = (DporInvitation.__table__ if rows is None else rows).c
    return case(
        (row.revoked_at.is_not(None), literal(DporInvitationStatus.REVOKED.value)),
        (
            and_(row.max_redemptions.is_not(None), row.redemptions >= row.max_redemptions),
            literal(DporInvitationStatus.USED_UP.value),
        ),
        (row.expires_at <= at, literal(DporInvitationStatus.EXPIRED.value)),
        else_=literal(DporInvitationStatus.ACTIVE.value),
    )


def status_now(invitation: DporInvitation) -> DporInvitationStatus:
    return status(invitation, clock.now_in_seconds())


def redeemable(invitation: DporInvitation, at: datetime) -> bool:
    return status(invitation, at) is DporInvitationStatus.ACTIVE
