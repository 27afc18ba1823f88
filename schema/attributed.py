"""A partner's attributed subscriptions: what it is or was associated with, and the association rows naming it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import strawberry
from sqlalchemy import ColumnElement, select
from strawberry.types import Info

from auth.policy import Entity
from auth.principal import Role
from auth.row_filters import visibility
from db.association import PartnerAssociation as AssociationRow
from db.subscription import Subscription as SubscriptionRow
from resolvers import queries
from resolvers.caller import caller_scope
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput, NotFound
from resolvers.loaders import SUBSCRIPTION_ORDER
from resolvers.pagination import page_size
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


def _association_conditions(partner_id: uuid.UUID, given: AttributedSubscriptionsFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AssociationRow.partner_id == partner_id]
    if given.type is not None:
        conditions.append(AssociationRow.type == given.type)
    if given.active_at is not None:
        conditions += [
            AssociationRow.valid_from <= given.active_at,
            (AssociationRow.valid_to.is_(None)) | (AssociationRow.valid_to > given.active_at),
        ]
    if given.to is not None:
        conditions.append(AssociationRow.valid_from < given.to)
    if given.from_ is not None:
        conditions.append((AssociationRow.valid_to.is_(None)) | (AssociationRow.valid_to > given.from_))
    if given.from_ is not None and given.to is not None and given.from_ >= given.to:
        raise BadUserInput("`from` must be before `to`", field="filter.from")
    return conditions


async def attributed_subscriptions(
    info: Info[RequestContext, None],
    partner_id: uuid.UUID | None,
    first: int | None,
    after: str | None,
    given: AttributedSubscriptionsFilter | None,
) -> AttributedSubscriptionConnection:
    scope = await caller_scope(info.context)
    if partner_id is None:
        if not scope.has(Role.PARTNER):
            raise BadUserInput("partnerId is required for callers that do not act as a partner", field="partnerId")
        if scope.partner_id is None:
            # The token's MPN id names no partner (yet: it may be provisioned later), so nothing is attributed to
            # it: an empty page, as every other read answers such a partner (its row filters match no row).
            return AttributedSubscriptionConnection(
                edges=[],
                page_info=PageInfo(
                    has_next_page=False, has_previous_page=after is not None, start_cursor=None, end_cursor=None
                ),
                total=0,
            )
        partner_id = scope.partner_id
    elif not scope.has(Role.PLATFORM_ADMIN) and partner_id != scope.partner_id:
        raise NotFound("partner")
    size = page_size(first, info.context.max_page_size)
    conditions = _association_conditions(partner_id, given or AttributedSubscriptionsFilter())
    associations_visible = visibility(Entity.PARTNER_ASSOCIATION, scope).predicate
    matching = select(AssociationRow.subscription_id).where(*conditions, associations_visible)
    statement = select(SubscriptionRow).where(SubscriptionRow.id.in_(matching))
    # Both predicates take the same caller values (row_filters.parameters), passed with each statement.
    subscriptions_visible = visibility(Entity.SUBSCRIPTION, scope)

    async with info.context.database.read() as session:
        page = await queries.fetch_page(
            session, statement, visible=subscriptions_visible, key=SUBSCRIPTION_ORDER, size=size, after=after
        )
        total = await queries.count_rows(session, statement, visible=subscriptions_visible)
        ids = [row.id for row in page.items]
        rows = (
            (
                await session.scalars(
                    select(AssociationRow)
                    .where(AssociationRow.subscription_id.in_(ids), *conditions, associations_visible)
                    .order_by(AssociationRow.valid_from, AssociationRow.id),
                    subscriptions_visible.parameters,
                )
            ).all()
            if ids
            else []
        )
    by_subscription: dict[uuid.UUID, list[AssociationRow]] = defaultdict(list)
    for row in rows:
        by_subscription[row.subscription_id].append(row)
    edges = [
        AttributedSubscriptionEdge(
            cursor=cursor,
            node=Subscription.from_row(item),
            associations=[PartnerAssociation.from_row(row) for row in by_subscription[item.id]],
        )
        for item, cursor in zip(page.items, page.cursors, strict=True)
    ]
    return AttributedSubscriptionConnection(edges=edges, page_info=page_info(page, page.cursors), total=total)
