"""Claim mutations (issue 14): a partner claims partner of record on its customer's subscriptions; the owner
declines within the decline window (resolvers.claims says how a claim moves and how it is attributed)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers import claims, validation
from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.idempotency import check_key
from resolvers.mutation import perform
from schema import global_id
from schema.arguments import MutationInput
from schema.association import PartnerAssociation
from schema.enums import RecognitionRole
from schema.mutations.associations import PartnerAssociationChangePayload
from schema.mutations.common import GUARDED, IDEMPOTENCY_KEY

_RULE = (
    " A claim is attributed only once ACTIVE, and then from its claim time: not while PENDING, never once DECLINED."
    " It never touches the Digital Partner of Record."
)


@strawberry.input(description="Claim recognition on subscriptions of the caller's customer tenant.")
class ClaimPartnerOfRecordInput:
    subscription_ids: list[strawberry.ID] = strawberry.field(
        description=f"The subscriptions (1 to {claims.MAX_SUBSCRIPTIONS}, each once), all of the tenant the caller"
        " is delegated admin of."
    )
    workload: str = strawberry.field(description="What the claim is for (1 to 256 characters), e.g. the workload.")
    evidence: str = strawberry.field(
        description=f"The partner's evidence: text, at most {claims.MAX_EVIDENCE_BYTES} bytes of UTF-8."
    )
    recognition_role: RecognitionRole | None = strawberry.field(
        default=None, description="How the partner asks to be recognised (SELL_AND_DEPLOY, MANAGE_AND_USE)."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self, decline_window_days: int) -> claims.ClaimArgs:
        check_key(self.idempotency_key)
        decoded = validation.every(
            subscription_ids=lambda: claims.subscription_ids(
                [
                    global_id.decode(value, "Subscription", field=f"subscriptionIds[{index}]")
                    for index, value in enumerate(self.subscription_ids)
                ]
            ),
            workload=lambda: validation.name(self.workload, "workload"),
            evidence=lambda: claims.evidence(self.evidence),
        )
        return claims.ClaimArgs(
            **decoded,
            recognition_role=self.recognition_role,
            idempotency_key=self.idempotency_key,
            decline_window_days=decline_window_days,
        )


@strawberry.type(description="The claims made, as the transaction wrote them (a replay: as the first request did).")
class ClaimPartnerOfRecordPayload:
    claims: list[PartnerAssociation] = strawberry.field(
        description="One claim per subscription asked for, in that order: the new PENDING claim, or the partner's"
        " claim already pending or in effect there (left as it is)."
    )
    changed: bool = strawberry.field(description="False when every subscription already had the partner's claim.")


@strawberry.input(description="Decline a pending claim.")
class DeclineClaimInput:
    claim_id: strawberry.ID = strawberry.field(description="The claim (a PartnerAssociation id).")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> claims.DeclineArgs:
        check_key(self.idempotency_key)
        return claims.DeclineArgs(
            claim_id=global_id.decode(self.claim_id, "PartnerAssociation", field="claimId"),
            idempotency_key=self.idempotency_key,
        )


@strawberry.type
class ClaimMutations:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Claim partner of record (DELEGATED_ADMIN only: a partner holding an active delegated admin"
        " relationship with the subscriptions' tenant, for its own partner). All or nothing: one"
        " CLAIMING_PARTNER_OF_RECORD association per subscription in status PENDING, from now until the decline"
        " window ends (DPOR_CLAIM_DECLINE_WINDOW_DAYS, 30 days by default); then, undeclined, it becomes ACTIVE."
        " A subscription outside the caller's tenant, or absent, is NOT_FOUND (with its `index`); NOT_ACTIVE while"
        " the tenant or a subscription is not active." + _RULE,
    )
    async def claim_partner_of_record(
        self, info: Info[RequestContext, None], input: Annotated[ClaimPartnerOfRecordInput, MutationInput]
    ) -> ClaimPartnerOfRecordPayload:
        made = await perform(
            info.context, claims.claim_partner_of_record, input.arguments(info.context.claim_decline_window_days)
        )
        return ClaimPartnerOfRecordPayload(
            claims=[PartnerAssociation.from_row(row) for row in made.claims], changed=made.changed
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Decline a pending claim (tenant OWNER only), before its declineBy: it ends now with"
        " CUSTOMER_DECLINED, status DECLINED, and is never attributed. At or after declineBy it is CONFLICT (the"
        " claim is in effect). A claim outside the caller's tenant is NOT_FOUND." + _RULE,
    )
    async def decline_claim(
        self, info: Info[RequestContext, None], input: Annotated[DeclineClaimInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        change = await perform(info.context, claims.decline_claim, input.arguments())
        (await loaders_of(info.context)).subscription.prime(change.subscription.id, change.subscription)
        return PartnerAssociationChangePayload.from_change(change)
