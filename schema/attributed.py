"""A partner's attributed subscriptions: what it is or was associated with, and the association rows naming it."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.reads.attributed import AssociationFilter, AttributedPage
from schema.association import PartnerAssociation
from schema.enums import AssociationType
from schema.node import PageInfo, page_info
from schema.subscription import Subscription


@strawberry.input(description="Narrows attributed subscriptions by association type and time.")
class AttributedSubscriptionsFilter:
    type: AssociationType | None = strawberry.field(default=None, description="Only associations of this type.")
    active_at: datetime | None = strawberry.field(default=None, description="Only associations in effect then.")
    from_: datetime | None = strawberry.field(
        default=None,
        name="from",
        description="Only associations in effect at some point at or after this instant.",
    )
    to: datetime | None = strawberry.field(
        default=None, description="Only associations in effect at some point before this instant."
    )


@strawberry.type(description="An attributed subscription with the association rows that name the partner.")
class AttributedSubscriptionEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this item.")
    node: Subscription = strawberry.field(description="The subscription.")
    associations: list[PartnerAssociation] = strawberry.field(
        description="The partner's association rows on this subscription matching the filter, oldest first."
    )


@strawberry.type(description="A page of attributed subscriptions.")
class AttributedSubscriptionConnection:
    edges: list[AttributedSubscriptionEdge] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    total: strawberry.Private[int]

    @strawberry.field(description="Number of attributed subscriptions matching the filter.")
    def total_count(self) -> int:
        return self.total

    @classmethod
    async def answer(cls, info: Info[RequestContext, None], found: AttributedPage) -> AttributedSubscriptionConnection:
        """The connection, the request's tenant loader primed with the tenants the page statement read, so the
        edges' `tenant` costs no statement."""
        if found.tenants:
            tenants = (await loaders_of(info.context)).tenant
            for tenant_id, tenant in found.tenants.items():
                tenants.prime(tenant_id, tenant)
        return cls.from_page(found)

    @classmethod
    def from_page(cls, found: AttributedPage) -> AttributedSubscriptionConnection:
        edges = [
            AttributedSubscriptionEdge(
                cursor=cursor,
                node=Subscription.from_row(item),
                associations=[PartnerAssociation.from_row(row) for row in found.associations_of(item.id)],
            )
            for item, cursor in zip(found.page.items, found.page.cursors, strict=True)
        ]
        return cls(edges=edges, page_info=page_info(found.page, found.page.cursors), total=found.total)


def association_filter(given: AttributedSubscriptionsFilter | None) -> AssociationFilter:
    if given is None:
        return AssociationFilter()
    return AssociationFilter(type=given.type, active_at=given.active_at, from_=given.from_, to=given.to)
