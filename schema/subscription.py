"""Subscription: what a tenant holds, and the partners associated with it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db.subscription import Subscription as SubscriptionRow
from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.errors import NotFound
from resolvers.loaders import PageRequest, active_at
from resolvers.pagination import page_size
from resolvers.usage.aggregate_types import GroupBy
from resolvers.usage.loaders import UsageRequest
from schema import global_id
from schema.arguments import After, First
from schema.enums import Offer, SubscriptionStatus
from schema.node import Connection, Node, connection
from schema.permissions import FieldPolicy
from schema.usage import UsageAggregate, UsageGroupBy, parent_usage

if TYPE_CHECKING:
    from schema.association import PartnerAssociation
    from schema.tenant import Tenant


@strawberry.type(description="A subscription held by a tenant.")
class Subscription(Node):
    row_id: strawberry.Private[uuid.UUID]
    tenant_id: strawberry.Private[uuid.UUID]
    external_id: str = strawberry.field(description="The subscription's id in the commerce platform.")
    offer: Offer = strawberry.field(description="The offer subscribed to.")
    display_name: str = strawberry.field(description="Human-readable name.")
    status: SubscriptionStatus = strawberry.field(description="Lifecycle status.")
    created_at: datetime = strawberry.field(description="When the subscription was created (UTC).")
    version: int = strawberry.field(
        description="Bumped on every partner-of-record change; send it back as expectedVersion to change associations."
    )
    usage_data_as_of: date | None = strawberry.field(
        description="The latest usage day ingested (UTC): tells 'no usage' from 'not reported yet'. Null: none yet."
    )

    @classmethod
    def from_row(cls, row: SubscriptionRow) -> Subscription:
        return cls(
            id=strawberry.ID(global_id.encode("Subscription", row.id)),
            row_id=row.id,
            tenant_id=row.tenant_id,
            external_id=row.external_id,
            offer=row.offer,
            display_name=row.display_name,
            status=row.status,
            created_at=row.created_at,
            version=row.version,
            usage_data_as_of=row.usage_data_as_of,
        )

    async def policy_tenant_id(self, context: RequestContext) -> uuid.UUID:
        """The tenant a field rule is decided for (schema.permissions.FieldPolicy)."""
        return self.tenant_id

    @strawberry.field(description="The tenant holding the subscription.")
    async def tenant(self, info: Info[RequestContext, None]) -> Annotated[Tenant, strawberry.lazy("schema.tenant")]:
        from schema.tenant import Tenant

        row = await (await loaders_of(info.context)).tenant.load(self.tenant_id)
        if row is None:
            raise NotFound("tenant")
        return Tenant.from_row(row)

    @strawberry.field(description="The active Digital Partner of Record association, or null when there is none.")
    async def digital_partner_of_record(
        self, info: Info[RequestContext, None]
    ) -> Annotated[PartnerAssociation, strawberry.lazy("schema.association")] | None:
        from schema.association import PartnerAssociation

        rows = await (await loaders_of(info.context)).active_dpor.load(self.row_id)
        return PartnerAssociation.from_row(rows[0]) if rows else None

    @strawberry.field(
        description=(
            "Partner associations in effect at `activeAt` (default: now); with includeEnded, every association"
            " row instead. Oldest first."
        )
    )
    async def partner_associations(
        self,
        info: Info[RequestContext, None],
        active_at_instant: Annotated[
            datetime | None,
            strawberry.argument(name="activeAt", description="The instant to look at (default: now)."),
        ] = None,
        include_ended: Annotated[
            bool, strawberry.argument(description="Return every row, active and ended, instead of those in effect.")
        ] = False,
    ) -> list[Annotated[PartnerAssociation, strawberry.lazy("schema.association")]]:
        from schema.association import PartnerAssociation

        rows = await (await loaders_of(info.context)).associations_by_subscription.load(self.row_id)
        return [PartnerAssociation.from_row(row) for row in active_at(rows, active_at_instant, include_ended)]

    @strawberry.field(
        description="This subscription's usage in the window, from the exact rollups (partners: attributed only).",
        permission_classes=[FieldPolicy],
    )
    async def usage(
        self,
        info: Info[RequestContext, None],
        from_: Annotated[date, strawberry.argument(name="from", description="First UTC day (inclusive).")],
        to: Annotated[date, strawberry.argument(description="Last UTC day (inclusive).")],
        group_by: Annotated[list[UsageGroupBy], strawberry.argument(description="Grouping keys (may be empty).")],
    ) -> list[UsageAggregate] | None:
        request = UsageRequest(from_, to, frozenset(group_by))
        return await parent_usage(info, GroupBy.SUBSCRIPTION, self.row_id, request, tenant_id=self.tenant_id)

    @strawberry.field(
        description="Every association row of the subscription, newest first, with who changed it and why.",
        permission_classes=[FieldPolicy],
    )
    async def association_history(
        self, info: Info[RequestContext, None], first: First = None, after: After = None
    ) -> Annotated[Connection[PartnerAssociation], strawberry.lazy("schema.association")] | None:
        from schema.association import PartnerAssociation

        history = (await loaders_of(info.context)).history_by_subscription
        key = (self.row_id, PageRequest(page_size(first, info.context.max_page_size), after))
        page = await history.pages.load(key)
        return connection(page, PartnerAssociation.from_row, lambda: history.counts.load(key))
