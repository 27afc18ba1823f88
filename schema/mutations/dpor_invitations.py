"""DPOR invitation mutations: a partner creates and revokes invitations; a tenant's owner accepts or declines one.

The inputs decode themselves into resolvers.invitations' arguments; each mutation runs in the request's
transaction (resolvers.mutation.perform). The owner's operations carry their request's code guard
(resolvers.invitations.codes), which rate-limits codes that redeem nothing.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.idempotency import check_key
from resolvers.invitations import codes, issuing, redeeming
from resolvers.mutation import perform
from resolvers.validation import every, expected_version
from schema import global_id
from schema.arguments import MutationInput
from schema.dpor_invitation import DporInvitation, DporInvitationPreview
from schema.mutations.associations import PartnerAssociationChangePayload
from schema.mutations.common import GUARDED, IDEMPOTENCY_KEY, run
from schema.partner import Partner

# Shared by the owner's operations' descriptions.
_CODE = (
    "The code the partner gave. A code that is unknown, expired, revoked or used up is NOT_FOUND, one answer for all;"
    " after too many such answers (10 per 15 minutes unless configured) the caller's code lookups are RATE_LIMITED"
    " (`retryAfter`) for a while, a valid code's too."
)
_OWNER_ONLY = (
    " Tenant OWNER only: service admins, co-admins, delegated admins, partners and platform admins are FORBIDDEN."
)


@strawberry.input(description="A new DPOR invitation.")
class CreateDporInvitationInput:
    message: str | None = strawberry.field(
        default=None, description="A message for the owners you invite (at most 1,000 characters)."
    )
    expires_in_days: int = strawberry.field(
        default=issuing.DEFAULT_DAYS, description="Days until the code expires: 1 to 90 (default 30)."
    )
    max_redemptions: int | None = strawberry.field(
        default=None, description="How many acceptances the code allows (1 to 100,000); null: no limit."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=IDEMPOTENCY_KEY + " A replay returns the same invitation without its code (`code` is null).",
    )

    def arguments(self) -> issuing.CreateInvitationArgs:
        check_key(self.idempotency_key)
        return issuing.CreateInvitationArgs(
            **every(
                message=lambda: issuing.message(self.message),
                expires_in_days=lambda: issuing.expires_in_days(self.expires_in_days),
                max_redemptions=lambda: issuing.max_redemptions(self.max_redemptions),
            ),
            idempotency_key=self.idempotency_key,
        )


@strawberry.type(description="A new DPOR invitation and, this once, its code.")
class CreateDporInvitationPayload:
    code: str | None = strawberry.field(
        description="The opaque code (256 random bits) to give the owners you invite. Shown only in this answer and"
        " never stored: null when an idempotency key is replayed (revoke the invitation and create another if it is"
        " lost)."
    )
    invitation: DporInvitation = strawberry.field(description="The invitation, as it is now.")


@strawberry.input(description="The invitation to revoke.")
class RevokeDporInvitationInput:
    invitation_id: strawberry.ID = strawberry.field(description="The invitation (one of your own).")

    def arguments(self) -> issuing.RevokeInvitationArgs:
        return issuing.RevokeInvitationArgs(
            global_id.decode(self.invitation_id, "DporInvitation", field="invitationId")
        )


@strawberry.type(description="A revoked DPOR invitation.")
class RevokeDporInvitationPayload:
    invitation: DporInvitation = strawberry.field(description="The invitation, now REVOKED.")
    changed: bool = strawberry.field(description="False when it had been revoked already.")


@strawberry.input(description="A subscription of your tenant to accept an invitation for.")
class DporInvitationSubscriptionInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    expected_version: int = strawberry.field(
        description="The subscription's `version` as last read. Any mismatch is CONFLICT and nothing is written."
    )


@strawberry.input(description="Accept a DPOR invitation for subscriptions of your tenant.")
class AcceptDporInvitationInput:
    code: str = strawberry.field(description=_CODE)
    subscriptions: list[DporInvitationSubscriptionInput] = strawberry.field(
        description=f"1 to {redeeming.MAX_SUBSCRIPTIONS} subscriptions of your tenant, each once."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> redeeming.AcceptArgs:
        check_key(self.idempotency_key)
        chosen = [
            redeeming.ChosenSubscription(
                global_id.decode(item.subscription_id, "Subscription", field=f"subscriptions[{index}].subscriptionId"),
                expected_version(item.expected_version, field=f"subscriptions[{index}].expectedVersion"),
            )
            for index, item in enumerate(self.subscriptions)
        ]
        return redeeming.AcceptArgs(self.code, redeeming.chosen_subscriptions(chosen), self.idempotency_key)


@strawberry.type(
    description="An accepted DPOR invitation: the inviting partner is now the DPOR of each subscription named. A"
    " replayed idempotency key returns the first acceptance's result as recorded."
)
class AcceptDporInvitationPayload:
    partner: Partner = strawberry.field(description="The inviting partner, now the subscriptions' DPOR.")
    changes: list[PartnerAssociationChangePayload] = strawberry.field(
        description="One change per subscription, in the order given, exactly as setDigitalPartnerOfRecord answers"
        " it (`changed` is false where the partner already was the DPOR)."
    )
    correlation_id: str | None = strawberry.field(
        description="On every audit event of this acceptance (auditEvents(filter: {correlationId}) reads them back);"
        " null when replaying an acceptance recorded before acceptances had one."
    )


@strawberry.input(description="Decline a DPOR invitation.")
class DeclineDporInvitationInput:
    code: str = strawberry.field(description=_CODE)

    def arguments(self) -> redeeming.DeclineArgs:
        return redeeming.DeclineArgs(self.code)


@strawberry.type(description="A declined DPOR invitation.")
class DeclineDporInvitationPayload:
    invitation: DporInvitationPreview = strawberry.field(description="What was declined.")


@strawberry.type
class DporInvitationMutations:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Create a DPOR invitation (PARTNER only): an opaque code, shown once, that a tenant's owner may"
        " accept to make you the DPOR of subscriptions it chooses. It names no tenant and reveals nothing about any.",
    )
    async def create_dpor_invitation(
        self, info: Info[RequestContext, None], input: Annotated[CreateDporInvitationInput, MutationInput]
    ) -> CreateDporInvitationPayload:
        return await run(
            info,
            issuing.create_dpor_invitation,
            input.arguments(),
            lambda created: CreateDporInvitationPayload(
                code=created.code, invitation=DporInvitation.from_row(created.invitation)
            ),
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Revoke one of your DPOR invitations (PARTNER only): its code is NOT_FOUND from now on; what"
        " acceptances set stays. Another partner's invitation is NOT_FOUND.",
    )
    async def revoke_dpor_invitation(
        self, info: Info[RequestContext, None], input: Annotated[RevokeDporInvitationInput, MutationInput]
    ) -> RevokeDporInvitationPayload:
        return await run(
            info,
            issuing.revoke_dpor_invitation,
            input.arguments(),
            lambda revoked: RevokeDporInvitationPayload(
                invitation=DporInvitation.from_row(revoked.invitation), changed=revoked.changed
            ),
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Accept a DPOR invitation for subscriptions of your tenant: the inviting partner becomes the DPOR"
        " of each, exactly as setDigitalPartnerOfRecord would make it (same rules, history and audit; the previous"
        " DPOR ends with REPLACED), all in one transaction that counts one redemption. A subscription outside your"
        " tenant is NOT_FOUND, a stale expectedVersion CONFLICT, an inactive tenant or subscription NOT_ACTIVE; on any"
        " failure nothing is written, the error's `index` and `field` name the first failing subscription, and"
        " `extensions.problems` lists every failing one as `{index, code, message, ...}`." + _OWNER_ONLY,
    )
    async def accept_dpor_invitation(
        self, info: Info[RequestContext, None], input: Annotated[AcceptDporInvitationInput, MutationInput]
    ) -> AcceptDporInvitationPayload:
        accepted = await perform(info.context, redeeming.accepting(codes.guard_for(info.context)), input.arguments())
        loaders = await loaders_of(info.context)
        for change in accepted.changes:
            loaders.subscription.prime(change.subscription.id, change.subscription)
        return AcceptDporInvitationPayload(
            partner=Partner.from_row(accepted.partner),
            changes=[PartnerAssociationChangePayload.from_change(change) for change in accepted.changes],
            correlation_id=accepted.correlation_id,
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Decline a DPOR invitation: recorded in your tenant's audit log, nothing else changes (the"
        " partner is not told, and the code stays valid for the other owners it was given to)." + _OWNER_ONLY,
    )
    async def decline_dpor_invitation(
        self, info: Info[RequestContext, None], input: Annotated[DeclineDporInvitationInput, MutationInput]
    ) -> DeclineDporInvitationPayload:
        preview = await perform(info.context, redeeming.declining(codes.guard_for(info.context)), input.arguments())
        return DeclineDporInvitationPayload(invitation=DporInvitationPreview.from_preview(preview))
