"""Partner: a member of the partner network, identified by its MPN id."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db.partner import Partner as PartnerRow
from resolvers.caller import caller_scope
from resolvers.context import RequestContext
from resolvers.invitations.issuing import list_dpor_invitations
from resolvers.reads.attributed import attributed_subscriptions as read_attributed_subscriptions
from resolvers.usage.aggregate_types import GroupBy
from resolvers.usage.loaders import UsageRequest
from schema import global_id
from schema.arguments import After, Filter, First, paging
from schema.dpor_invitation import DporInvitation, DporInvitationsFilter
from schema.enums import AssociationType
from schema.node import Connection, Node, connection
from schema.permissions import OperationPolicy
from schema.usage import UsageAggregate, UsageGroupBy, parent_usage

if TYPE_CHECKING:
    from schema.attributed import AttributedSubscriptionConnection, AttributedSubscriptionsFilter


@strawberry.type(description="A partner in the partner network.")
class Partner(Node):
    row_id: strawberry.Private[uuid.UUID]
    mpn_id: str = strawberry.field(description="Partner network (MPN) id: digits.")
    name: str = strawberry.field(description="The partner's name.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    created_at: datetime = strawberry.field(description="When the partner was registered (UTC).")

    @classmethod
    def from_row(cls, row: PartnerRow) -> Partner:
        return cls(
            id=strawberry.ID(global_id.encode("Partner", row.id)),
            row_id=row.id,
            mpn_id=row.mpn_id,
            name=row.name,
            country_code=row.country_code,
            created_at=row.created_at,
        )

    def policy_partner_id(self) -> uuid.UUID:
        """The partner an OWN_PARTNER grant is matched against (schema.permissions.OperationPolicy)."""
        return self.row_id

    @strawberry.field(
        description=(
            "Usage attributed to this partner in the window: each day counts for the seconds its association was in"
            " effect. Readable by the partner itself and platform admins."
        ),
        permission_classes=[OperationPolicy],
    )
    async def attributed_usage(
        self,
        info: Info[RequestContext, None],
        from_: Annotated[date, strawberry.argument(name="from", description="First UTC day (inclusive).")],
        to: Annotated[date, strawberry.argument(description="Last UTC day (inclusive).")],
        group_by: Annotated[list[UsageGroupBy], strawberry.argument(description="Grouping keys (may be empty).")],
        association_type: Annotated[
            AssociationType | None, strawberry.argument(description="Only this association type (default: all).")
        ] = None,
    ) -> list[UsageAggregate] | None:
        request = UsageRequest(from_, to, frozenset(group_by), association_type)
        return await parent_usage(info, GroupBy.PARTNER, self.row_id, request)

    @strawberry.field(
        description=(
            "Subscriptions this partner is or was associated with, each with the association rows naming it."
            " Readable by the partner itself and platform admins."
        ),
        permission_classes=[OperationPolicy],
    )
    async def attributed_subscriptions(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        filter: Annotated[
            Annotated[AttributedSubscriptionsFilter, strawberry.lazy("schema.attributed")] | None, Filter
        ] = None,
    ) -> Annotated[AttributedSubscriptionConnection, strawberry.lazy("schema.attributed")] | None:
        from schema.attributed import AttributedSubscriptionConnection, association_filter

        scope = await caller_scope(info.context)
        found = await read_attributed_subscriptions(
            info.context.database, scope, self.row_id, association_filter(filter), paging(info, first, after)
        )
        return await AttributedSubscriptionConnection.answer(info, found)

    @strawberry.field(
        description=(
            "This partner's DPOR invitations, newest first, with their status and redemptions (never their codes),"
            " optionally only those of some statuses. Readable by the partner itself and platform admins; nobody"
            " else sees a partner's invitations (a tenant's owner sees one only by its code, dporInvitation)."
        ),
        permission_classes=[OperationPolicy],
    )
    async def dpor_invitations(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        filter: Annotated[DporInvitationsFilter | None, Filter] = None,
    ) -> Connection[DporInvitation] | None:
        scope = await caller_scope(info.context)
        statuses = None if filter is None or filter.status is None else frozenset(filter.status)
        found = await list_dpor_invitations(
            info.context.database, scope, self.row_id, paging(info, first, after), statuses
        )
        return connection(found.page, DporInvitation.from_row, found.count)
