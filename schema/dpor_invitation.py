"""DPOR invitations as the API shows them: the partner's own view of each, and the owner's preview of a code."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db.dpor_invitation import DporInvitation as InvitationRow
from resolvers.invitations import state
from resolvers.invitations.redeeming import Preview
from resolvers.invitations.state import DporInvitationStatus
from schema import global_id

strawberry.enum(
    DporInvitationStatus,
    description="Whether an invitation's code can still be accepted: only ACTIVE codes can be previewed, accepted or"
    " declined; REVOKED (withdrawn by the partner) wins over USED_UP (maxRedemptions reached), which wins over"
    " EXPIRED.",
)


@strawberry.input(description="Narrows a partner's DPOR invitations.")
class DporInvitationsFilter:
    status: list[DporInvitationStatus] | None = strawberry.field(
        default=None,
        description="Only invitations whose status now is one of these (name at least one); omitted: every status.",
    )


@strawberry.type(
    description="A DPOR invitation as the partner that created it sees it (its code is shown once, on creation, and"
    " never stored). Readable by that partner and platform admins; it names no tenant."
)
class DporInvitation:
    id: strawberry.ID = strawberry.field(description="Global ID; revokeDporInvitation takes it.")
    message: str | None = strawberry.field(description="The partner's message to the owners it invites.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    expires_at: datetime = strawberry.field(description="From this instant (UTC) its code is NOT_FOUND.")
    max_redemptions: int | None = strawberry.field(description="How many acceptances it allows; null: no limit.")
    redemptions: int = strawberry.field(description="Acceptances so far (one per acceptance, whatever it named).")
    revoked_at: datetime | None = strawberry.field(description="When the partner revoked it (UTC), if it did.")
    status: DporInvitationStatus = strawberry.field(description="Its status now.")

    @classmethod
    def from_row(cls, row: InvitationRow) -> DporInvitation:
        return cls(
            id=strawberry.ID(global_id.encode("DporInvitation", row.id)),
            message=row.message,
            created_at=row.created_at,
            expires_at=row.expires_at,
            max_redemptions=row.max_redemptions,
            redemptions=row.redemptions,
            revoked_at=row.revoked_at,
            status=state.status_now(row),
        )


@strawberry.type(
    description="What a tenant's owner sees of an invitation before accepting or declining it: who invites it, why,"
    " until when. Nothing about other tenants, and nothing about the invitation's use."
)
class DporInvitationPreview:
    partner_name: str = strawberry.field(description="The inviting partner's name.")
    partner_mpn_id: str = strawberry.field(description="The inviting partner's partner network (MPN) id.")
    message: str | None = strawberry.field(description="The partner's message.")
    expires_at: datetime = strawberry.field(description="Until when (UTC) the code can be accepted.")

    @classmethod
    def from_preview(cls, preview: Preview) -> DporInvitationPreview:
        return cls(
            partner_name=preview.partner_name,
            partner_mpn_id=preview.partner_mpn_id,
            message=preview.message,
            expires_at=preview.expires_at,
        )
