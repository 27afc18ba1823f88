"""Association mutations: set, replace or remove a subscription's Digital Partner of Record; link and unlink partners.

The inputs decode themselves into resolvers.associations' arguments; the resolver runs the change in the request's
transaction and returns its rows as written, each under the caller's row filters (resolvers.association_change).
"""

from __future__ import annotations

import uuid
from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from resolvers import associations, validation
from resolvers.association_change import ShownChange
from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.idempotency import check_key
from resolvers.mutation import Work, perform
from schema import global_id
from schema.arguments import MutationInput
from schema.association import PartnerAssociation
from schema.enums import AssociationType, RecognitionRole
from schema.mutations.common import GUARDED, IDEMPOTENCY_KEY
from schema.subscription import Subscription

A = TypeVar("A")

_VERSION = (
    "The subscription's `version` as last read. Any mismatch is CONFLICT and nothing is written, also when the request"
    " would have changed nothing (e.g. naming the partner that already is the DPOR)."
)
# Shared by the association mutations' descriptions: the status rule in auth.policy.
_ACTIVE_ONLY = (
    " Refused with NOT_ACTIVE while the tenant is SUSPENDED or DELETED or the subscription is not ACTIVE (reads still"
    " work). A subscription or association outside the caller's reach is NOT_FOUND, exactly as one that does not exist."
)


def _subscription_id(value: strawberry.ID) -> uuid.UUID:
    return global_id.decode(value, "Subscription", field="subscriptionId")


def _partner_id(value: strawberry.ID) -> uuid.UUID:
    return global_id.decode(value, "Partner", field="partnerId")


@strawberry.input(description="Attach or replace a subscription's Digital Partner of Record.")
class SetDigitalPartnerOfRecordInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    partner_id: strawberry.ID = strawberry.field(description="The partner to make its DPOR.")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> associations.SetDporArgs:
        check_key(self.idempotency_key)
        return associations.SetDporArgs(
            subscription_id=_subscription_id(self.subscription_id),
            partner_id=_partner_id(self.partner_id),
            expected_version=validation.expected_version(self.expected_version),
            idempotency_key=self.idempotency_key,
        )


@strawberry.input(description="Remove a subscription's Digital Partner of Record.")
class RemoveDigitalPartnerOfRecordInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> associations.RemoveDporArgs:
        check_key(self.idempotency_key)
        return associations.RemoveDporArgs(
            subscription_id=_subscription_id(self.subscription_id),
            expected_version=validation.expected_version(self.expected_version),
            idempotency_key=self.idempotency_key,
        )


@strawberry.input(description="Link a partner to a subscription with an association type other than DPOR.")
class LinkPartnerInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    partner_id: strawberry.ID = strawberry.field(description="The partner to link.")
    type: AssociationType = strawberry.field(description="The association type (not DIGITAL_PARTNER_OF_RECORD).")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)
    recognition_role: RecognitionRole | None = strawberry.field(
        default=None,
        description="How the partner is recognised for the subscription (SELL_AND_DEPLOY, MANAGE_AND_USE), if at all;"
        " kept on the association and in its history, and usage attribution can be grouped by it. Linking a partner"
        " that already holds the association changes nothing, its role included.",
    )

    def arguments(self) -> associations.LinkArgs:
        check_key(self.idempotency_key)
        return associations.LinkArgs(
            subscription_id=_subscription_id(self.subscription_id),
            partner_id=_partner_id(self.partner_id),
            type=self.type,
            expected_version=validation.expected_version(self.expected_version),
            idempotency_key=self.idempotency_key,
            recognition_role=self.recognition_role,
        )


@strawberry.input(description="End a non-DPOR partner association.")
class UnlinkPartnerInput:
    association_id: strawberry.ID = strawberry.field(description="The active association to end.")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> associations.UnlinkArgs:
        check_key(self.idempotency_key)
        return associations.UnlinkArgs(
            association_id=global_id.decode(self.association_id, "PartnerAssociation", field="associationId"),
            expected_version=validation.expected_version(self.expected_version),
            idempotency_key=self.idempotency_key,
        )


@strawberry.type(
    description="The result of a partner association change, as its transaction wrote it. A replayed idempotency"
    " key returns the first request's result as recorded."
)
class PartnerAssociationChangePayload:
    subscription: Subscription = strawberry.field(
        description="The subscription; its `version` is the one this change wrote (a replay: the first request's),"
        " never a later writer's."
    )
    association: PartnerAssociation | None = strawberry.field(
        description="The association now in effect (the new or unchanged one) as this change left it, or null."
    )
    previous_association: PartnerAssociation | None = strawberry.field(
        description="The association this change ended, if any, as this change left it."
    )
    changed: bool = strawberry.field(description="False when the request changed nothing (see message).")
    message: str = strawberry.field(description="What happened, in words.")

    @classmethod
    def from_change(cls, change: ShownChange) -> PartnerAssociationChangePayload:
        subscription = Subscription.from_row(change.subscription)
        subscription.version = change.subscription_version
        return cls(
            subscription=subscription,
            association=PartnerAssociation.from_row(change.association) if change.association else None,
            previous_association=(
                PartnerAssociation.from_row(change.previous_association) if change.previous_association else None
            ),
            changed=change.changed,
            message=change.message,
        )


async def _change(
    info: Info[RequestContext, None], work: Work[A, ShownChange], args: A
) -> PartnerAssociationChangePayload:
    """`work` in the request's transaction, its change as the payload. The subscription row, visible to the caller,
    primes its DataLoader: nested fields that load it (an association's `subscription`, `createdBy`) cost nothing."""
    change = await perform(info.context, work, args)
    (await loaders_of(info.context)).subscription.prime(change.subscription.id, change.subscription)
    return PartnerAssociationChangePayload.from_change(change)


@strawberry.type
class AssociationMutations:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Attach or replace the Digital Partner of Record (tenant OWNER only). The previous DPOR ends with"
        " REPLACED at the instant the new one starts (server time, no backdating)." + _ACTIVE_ONLY,
    )
    async def set_digital_partner_of_record(
        self, info: Info[RequestContext, None], input: Annotated[SetDigitalPartnerOfRecordInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        return await _change(info, associations.set_digital_partner_of_record, input.arguments())

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Remove the Digital Partner of Record (tenant OWNER only); it ends with REMOVED_BY_OWNER."
        + _ACTIVE_ONLY,
    )
    async def remove_digital_partner_of_record(
        self, info: Info[RequestContext, None], input: Annotated[RemoveDigitalPartnerOfRecordInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        return await _change(info, associations.remove_digital_partner_of_record, input.arguments())

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Link a partner with another association type (OWNER, SERVICE_ADMIN; a DELEGATED_ADMIN only a"
        " PARTNER_ADMIN_LINK naming its own partner)." + _ACTIVE_ONLY,
    )
    async def link_partner(
        self, info: Info[RequestContext, None], input: Annotated[LinkPartnerInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        return await _change(info, associations.link_partner, input.arguments())

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="End a non-DPOR association with UNLINKED (same roles as linkPartner)." + _ACTIVE_ONLY,
    )
    async def unlink_partner(
        self, info: Info[RequestContext, None], input: Annotated[UnlinkPartnerInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        return await _change(info, associations.unlink_partner, input.arguments())
