"""Bulk DPOR mutations: set or remove the Digital Partner of Record of up to 500 subscriptions at once, all or nothing.

The inputs decode themselves into resolvers.bulk_associations' arguments (a malformed item is passed on as its
BadUserInput, which the resolver lists by index with every other failing item); each item's payload is the single
mutations' payload type.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from resolvers import bulk_associations, validation
from resolvers.bulk_associations import MAX_ITEMS, BulkItem, Given, ShownBatch
from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput
from resolvers.idempotency import check_key
from resolvers.mutation import Work, perform
from schema import global_id
from schema.arguments import MutationInput
from schema.mutations.associations import PartnerAssociationChangePayload
from schema.mutations.common import GUARDED, IDEMPOTENCY_KEY

A = TypeVar("A")

_WHO = (
    " Tenant OWNER only (service admins, co-admins, delegated admins, partners and platform admins get FORBIDDEN);"
    " every subscription must be of the owner's tenant."
)
_ALL_OR_NOTHING = (
    " All or nothing: when any item fails, nothing is written and the error (its code is the first failing item's)"
    " lists every failing item in `extensions.problems` as `{index, code, message, ...}`: NOT_FOUND for a"
    " subscription that does not exist or is outside the caller's tenant (the same answer), BAD_USER_INPUT for a"
    " subscription named twice (`duplicateOf`) or a malformed item, NOT_ACTIVE while the tenant or subscription is"
    " not ACTIVE, CONFLICT with `currentVersion` for a stale expectedVersion. Otherwise each subscription changes as"
    " the single mutation would change it, with one history row and one audit event per changed subscription, all"
    " events carrying the payload's `correlationId`."
)
_ITEMS = (
    f"1 to {MAX_ITEMS} subscriptions, each named once, with the version last read. More or fewer is BAD_USER_INPUT"
    " (field `subscriptions`)."
)


@strawberry.input(description="A subscription and its `version` as last read (any mismatch is CONFLICT).")
class SubscriptionVersionInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    expected_version: int = strawberry.field(description="The subscription's `version` as last read.")


def _items(given: list[SubscriptionVersionInput]) -> tuple[Given, ...]:
    """Each item decoded, or its BadUserInput: the resolver lists malformed items with every other failing one."""
    bulk_associations.check_size(len(given))
    items: list[Given] = []
    for item in given:
        try:
            subscription_id = global_id.decode(item.subscription_id, "Subscription", field="subscriptionId")
            items.append(BulkItem(subscription_id, validation.expected_version(item.expected_version)))
        except BadUserInput as malformed:
            items.append(malformed)
    return tuple(items)


@strawberry.input(description="Make one partner the Digital Partner of Record of many subscriptions at once.")
class BulkSetDigitalPartnerOfRecordInput:
    partner_id: strawberry.ID = strawberry.field(description="The partner to make their DPOR.")
    subscriptions: list[SubscriptionVersionInput] = strawberry.field(description=_ITEMS)
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> bulk_associations.BulkSetDporArgs:
        check_key(self.idempotency_key)
        return bulk_associations.BulkSetDporArgs(
            partner_id=global_id.decode(self.partner_id, "Partner", field="partnerId"),
            items=_items(self.subscriptions),
            idempotency_key=self.idempotency_key,
        )


@strawberry.input(description="Remove the Digital Partner of Record of many subscriptions at once.")
class BulkRemoveDigitalPartnerOfRecordInput:
    subscriptions: list[SubscriptionVersionInput] = strawberry.field(description=_ITEMS)
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> bulk_associations.BulkRemoveDporArgs:
        check_key(self.idempotency_key)
        return bulk_associations.BulkRemoveDporArgs(
            items=_items(self.subscriptions), idempotency_key=self.idempotency_key
        )


@strawberry.type(
    description="The result of a bulk DPOR change, as its transaction wrote it. A replayed idempotency key returns"
    " the first request's result as recorded."
)
class BulkPartnerOfRecordChangePayload:
    correlation_id: str = strawberry.field(
        description="The batch's id: every audit event it wrote carries it (auditEvents(filter: {correlationId}))."
    )
    changes: list[PartnerAssociationChangePayload] = strawberry.field(
        description="One change per input item, in input order (`changed` false where the subscription already was"
        " as asked: then it has no new history row, audit event or version)."
    )

    @classmethod
    def from_batch(cls, batch: ShownBatch) -> BulkPartnerOfRecordChangePayload:
        return cls(
            correlation_id=batch.correlation_id,
            changes=[PartnerAssociationChangePayload.from_change(change) for change in batch.changes],
        )


async def _batch(
    info: Info[RequestContext, None], work: Work[A, ShownBatch], args: A
) -> BulkPartnerOfRecordChangePayload:
    """`work` in the request's transaction; its subscription rows, visible to the caller, prime their DataLoader."""
    batch = await perform(info.context, work, args)
    loader = (await loaders_of(info.context)).subscription
    for change in batch.changes:
        loader.prime(change.subscription.id, change.subscription)
    return BulkPartnerOfRecordChangePayload.from_batch(batch)


@strawberry.type
class BulkAssociationMutations:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Attach or replace the Digital Partner of Record of up to 500 subscriptions in one transaction:"
        " each previous DPOR ends with REPLACED at the instant the new one starts (server time)."
        + _WHO
        + _ALL_OR_NOTHING,
    )
    async def bulk_set_digital_partner_of_record(
        self, info: Info[RequestContext, None], input: Annotated[BulkSetDigitalPartnerOfRecordInput, MutationInput]
    ) -> BulkPartnerOfRecordChangePayload:
        return await _batch(info, bulk_associations.bulk_set_digital_partner_of_record, input.arguments())

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Remove the Digital Partner of Record of up to 500 subscriptions in one transaction; each ends"
        " with REMOVED_BY_OWNER." + _WHO + _ALL_OR_NOTHING,
    )
    async def bulk_remove_digital_partner_of_record(
        self, info: Info[RequestContext, None], input: Annotated[BulkRemoveDigitalPartnerOfRecordInput, MutationInput]
    ) -> BulkPartnerOfRecordChangePayload:
        return await _batch(info, bulk_associations.bulk_remove_digital_partner_of_record, input.arguments())
