"""Tenant: a customer's organization, holding subscriptions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from db.enums import Offer as OfferEnum
from db.enums import SubscriptionStatus as SubscriptionStatusEnum
from db.tenant import Tenant as TenantRow
from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.loaders import PageRequest
from resolvers.pagination import page_size
from resolvers.usage.aggregate_types import GroupBy
from resolvers.usage.loaders import UsageRequest
from schema import global_id
from schema.arguments import After, Filter, First
from schema.contact import Contact
from schema.delegation import DelegatedAdminRelationship
from schema.enums import Offer, SubscriptionStatus, TenantStatus
from schema.node import Connection, Node, connection
from schema.permissions import FieldPolicy
from schema.subscription import Subscription
from schema.usage import UsageAggregate, UsageGroupBy, parent_usage


@strawberry.input(description="Narrows a tenant's subscriptions.")
class TenantSubscriptionsFilter:
    offer: Offer | None = strawberry.field(default=None, description="Only this offer.")
    status: SubscriptionStatus | None = strawberry.field(default=None, description="Only this status.")
    has_digital_partner_of_record: bool | None = strawberry.field(
        default=None, description="Only subscriptions with (true) or without (false) an active DPOR."
    )


def subscription_filter_items(
    offer: OfferEnum | None, status: SubscriptionStatusEnum | None, has_dpor: bool | None
) -> tuple[tuple[str, object], ...]:
    items = {"offer": offer, "status": status, "has_digital_partner_of_record": has_dpor}
    return tuple((name, value) for name, value in items.items() if value is not None)


@strawberry.type(description="A customer tenant (a directory organization) holding subscriptions.")
class Tenant(Node):
    row_id: strawberry.Private[uuid.UUID]
    row_primary_domain: strawberry.Private[str]
    external_id: uuid.UUID = strawberry.field(description="The directory's GUID for the tenant (the token `tid`).")
    display_name: str = strawberry.field(description="The tenant's display name.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    status: TenantStatus = strawberry.field(description="Lifecycle status.")
    created_at: datetime = strawberry.field(description="When the tenant was created (UTC).")
    updated_at: datetime = strawberry.field(description="When the tenant was last changed (UTC).")

    @classmethod
    def from_row(cls, row: TenantRow) -> Tenant:
        return cls(
            id=strawberry.ID(global_id.encode("Tenant", row.id)),
            row_id=row.id,
            row_primary_domain=row.primary_domain,
            external_id=row.external_id,
            display_name=row.display_name,
            country_code=row.country_code,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def policy_tenant_id(self, context: RequestContext) -> uuid.UUID:
        """The tenant a field rule is decided for (schema.permissions.FieldPolicy)."""
        return self.row_id

    @strawberry.field(
        description="The tenant's primary domain. Readable by the tenant's admins and platform admins.",
        permission_classes=[FieldPolicy],
    )
    def primary_domain(self) -> str | None:
        return self.row_primary_domain

    @strawberry.field(
        description="People to contact at the tenant (personal data). Readable by the tenant's admins only.",
        permission_classes=[FieldPolicy],
    )
    async def contacts(
        self, info: Info[RequestContext, None], first: First = None, after: After = None
    ) -> Connection[Contact] | None:
        contacts = (await loaders_of(info.context)).contacts_by_tenant
        key = (self.row_id, PageRequest(page_size(first, info.context.max_page_size), after))
        page = await contacts.pages.load(key)
        return connection(page, Contact.from_row, lambda: contacts.counts.load(key))

    @strawberry.field(description="The tenant's subscriptions visible to the caller, oldest first.")
    async def subscriptions(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        filter: Annotated[TenantSubscriptionsFilter | None, Filter] = None,
    ) -> Connection[Subscription]:
        subscriptions = (await loaders_of(info.context)).subscriptions_by_tenant
        given = filter or TenantSubscriptionsFilter()
        items = subscription_filter_items(given.offer, given.status, given.has_digital_partner_of_record)
        key = (self.row_id, PageRequest(page_size(first, info.context.max_page_size), after, items))
        page = await subscriptions.pages.load(key)
        return connection(page, Subscription.from_row, lambda: subscriptions.counts.load(key))

    @strawberry.field(
        description=(
            "This tenant's usage in the window, from the exact rollups. The tenant's admins (delegated admins"
            " included) and platform admins read all of it; a partner reads only what is attributed to it: the days"
            " its associations on this tenant's subscriptions were in effect, one row per association type, with"
            " `attribution`."
        ),
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
        return await parent_usage(info, GroupBy.TENANT, self.row_id, request)

    @strawberry.field(
        description="Partners with admin rights on this tenant, past and present. Readable by the tenant's admins.",
        permission_classes=[FieldPolicy],
    )
    async def delegated_admin_relationships(
        self, info: Info[RequestContext, None]
    ) -> list[DelegatedAdminRelationship] | None:
        rows = await (await loaders_of(info.context)).delegations_by_tenant.load(self.row_id)
        return [DelegatedAdminRelationship.from_row(row) for row in rows]
