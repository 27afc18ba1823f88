"""Partner associations: which partner contributes to a subscription, of which type, over which interval."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db.association import PartnerAssociation as AssociationRow
from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.errors import NotFound
from schema import global_id
from schema.enums import AssociationEndReason, AssociationStatus, AssociationType, RecognitionRole
from schema.node import Node
from schema.permissions import FieldPolicy

if TYPE_CHECKING:
    from schema.partner import Partner
    from schema.subscription import Subscription


@strawberry.type(
    description="What a partner claimed (claimPartnerOfRecord), and until when the tenant's owner may decline it."
)
class PartnerClaim:
    workload: str = strawberry.field(description="What the claim is for, in the partner's words.")
    evidence: str = strawberry.field(description="The partner's evidence (text, at most 4 KB).")
    decline_by: datetime = strawberry.field(
        description="The end of the decline window (UTC): the owner may decline before it; an undeclined claim is"
        " ACTIVE from then on, attributed from its claim time (validFrom)."
    )


@strawberry.type(
    description=(
        "A partner's association with a subscription over the half-open interval [validFrom, validTo), second"
        " precision. History is never deleted: a change ends the active row and starts a new one. Attributed only"
        " while `status` is ACTIVE: a claim is not while PENDING, never once DECLINED."
    )
)
class PartnerAssociation(Node):
    subscription_id: strawberry.Private[uuid.UUID]
    partner_id: strawberry.Private[uuid.UUID]
    type: AssociationType = strawberry.field(description="How the partner contributes.")
    valid_from: datetime = strawberry.field(description="Start of the association (UTC, inclusive).")
    valid_to: datetime | None = strawberry.field(
        description="End of the association (UTC, exclusive); null while active."
    )
    created_by_subject: strawberry.Private[str]
    ended_by_subject: strawberry.Private[str | None]
    created_by_role: str | None = strawberry.field(
        description="The role the caller who started the association acted in (e.g. OWNER); readable by everyone who"
        " reads the association. Null on rows recorded before roles were."
    )
    created_by_client_id: str | None = strawberry.field(
        description="OAuth client id of the application that started the association, if recorded."
    )
    ended_by_role: str | None = strawberry.field(
        description="The role the caller who ended the association acted in; null while active (or not recorded)."
    )
    ended_by_client_id: str | None = strawberry.field(
        description="OAuth client id of the application that ended the association, if any."
    )
    end_reason: AssociationEndReason | None = strawberry.field(description="Why it ended; null while active.")
    status: AssociationStatus = strawberry.field(
        description="ACTIVE: in effect over its interval, attributed (every association that is not a claim, and a"
        " claim whose decline window passed undeclined, from its claim time). PENDING: a claim inside its decline"
        " window, not attributed yet. DECLINED: a claim the owner declined, never attributed."
    )
    claim: PartnerClaim | None = strawberry.field(
        description="For an association made by claimPartnerOfRecord: its workload, evidence and decline window."
    )
    recognition_role: RecognitionRole | None = strawberry.field(
        description="How the partner is recognised (SELL_AND_DEPLOY, MANAGE_AND_USE), as set with the link or claim;"
        " null when none was named (and on rows recorded before recognition roles)."
    )

    @classmethod
    def from_row(cls, row: AssociationRow) -> PartnerAssociation:
        return cls(
            id=strawberry.ID(global_id.encode("PartnerAssociation", row.id)),
            subscription_id=row.subscription_id,
            partner_id=row.partner_id,
            type=row.type,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            created_by_subject=row.created_by,
            ended_by_subject=row.ended_by,
            created_by_role=row.created_by_role,
            created_by_client_id=row.created_by_client_id,
            ended_by_role=row.ended_by_role,
            ended_by_client_id=row.ended_by_client_id,
            end_reason=row.end_reason,
            recognition_role=row.recognition_role,
            status=row.status or AssociationStatus.ACTIVE,  # a row not flushed yet has no default applied
            claim=_claim(row),
        )

    @strawberry.field(
        description="Token subject of the caller who started the association (personal data: it may be an e-mail"
        " address). Only the tenant's own admins and platform admins read it; anyone else gets FORBIDDEN on this"
        " field and reads createdByRole and createdByClientId instead.",
        permission_classes=[FieldPolicy],
    )
    def created_by(self) -> str | None:
        return self.created_by_subject

    @strawberry.field(
        description="Token subject of the caller who ended the association; null while active. Readable as"
        " createdBy is (others read endedByRole and endedByClientId).",
        permission_classes=[FieldPolicy],
    )
    def ended_by(self) -> str | None:
        return self.ended_by_subject

    async def policy_tenant_id(self, context: RequestContext) -> uuid.UUID | None:
        """The tenant a field rule is decided for (schema.permissions.FieldPolicy): its subscription's, if the
        caller reaches that subscription."""
        subscription = await (await loaders_of(context)).subscription.load(self.subscription_id)
        return subscription.tenant_id if subscription is not None else None

    @strawberry.field(description="Whether the association is in effect now (validTo is null).")
    def is_active(self) -> bool:
        return self.valid_to is None

    @strawberry.field(description="The subscription.")
    async def subscription(
        self, info: Info[RequestContext, None]
    ) -> Annotated[Subscription, strawberry.lazy("schema.subscription")]:
        from schema.subscription import Subscription

        row = await (await loaders_of(info.context)).subscription.load(self.subscription_id)
        if row is None:
            raise NotFound("subscription")
        return Subscription.from_row(row)

    @strawberry.field(description="The partner.")
    async def partner(self, info: Info[RequestContext, None]) -> Annotated[Partner, strawberry.lazy("schema.partner")]:
        from schema.partner import Partner

        row = await (await loaders_of(info.context)).partner.load(self.partner_id)
        if row is None:
            raise NotFound("partner")
        return Partner.from_row(row)


def _claim(row: AssociationRow) -> PartnerClaim | None:
    if row.decline_by is None or row.claim_workload is None:
        return None
    return PartnerClaim(workload=row.claim_workload, evidence=row.claim_evidence or "", decline_by=row.decline_by)
