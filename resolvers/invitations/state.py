"""An invitation's status, derived from its row and an instant of the server's clock (db.clock, which tests move).

REVOKED wins over everything (the partner withdrew it), then USED_UP (max_redemptions reached), then EXPIRED (at or
after expires_at); anything else is ACTIVE, the only status that can be previewed, accepted or declined.
"""

from __future__ import annotations

import enum
from datetime import datetime

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


def status_now(invitation: DporInvitation) -> DporInvitationStatus:
    return status(invitation, clock.now_in_seconds())


def redeemable(invitation: DporInvitation, at: datetime) -> bool:
    return status(invitation, at) is DporInvitationStatus.ACTIVE
