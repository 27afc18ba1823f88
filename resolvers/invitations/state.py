"""An invitation's status, derived from its row and the time, and the clock it is read with.

REVOKED wins over everything (the partner withdrew it), then USED_UP (max_redemptions reached), then EXPIRED (at or
after expires_at); anything else is ACTIVE, the only status that can be previewed, accepted or declined.
"""

from __future__ import annotations

import enum
from datetime import datetime

from db.dpor_invitation import DporInvitation
from resolvers.association_steps import now_in_seconds


class DporInvitationStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    USED_UP = "USED_UP"


def now() -> datetime:
    """Server time in whole seconds, as association changes take it. Read through this module, so tests move it."""
    return now_in_seconds()


def status(invitation: DporInvitation, at: datetime) -> DporInvitationStatus:
    if invitation.revoked_at is not None:
        return DporInvitationStatus.REVOKED
    if invitation.max_redemptions is not None and invitation.redemptions >= invitation.max_redemptions:
        return DporInvitationStatus.USED_UP
    if at >= invitation.expires_at:
        return DporInvitationStatus.EXPIRED
    return DporInvitationStatus.ACTIVE


def redeemable(invitation: DporInvitation, at: datetime) -> bool:
    return status(invitation, at) is DporInvitationStatus.ACTIVE
