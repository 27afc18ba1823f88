"""The API's usage reads: `usageAggregates`, and the nested usage of a subscription, tenant or partner, each read
under the caller's usage filter for the row in hand (auth.row_filters.usage_visibility)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from auth.row_filters import UsageVisibility, usage_visibility
from auth.scope import CallerScope
from db.engine import Database
from resolvers.context import RequestContext
from resolvers.errors import Forbidden
from resolvers.usage.aggregate_types import AggregateFilter, AggregateRow, GroupBy
from resolvers.usage.aggregates import usage_aggregates
from resolvers.usage.loaders import UsageRequest, usage_loaders_of
from resolvers.usage.window import check_window


async def aggregate_usage(
    database: Database, caller: CallerScope, filter: AggregateFilter, group_by: Sequence[GroupBy]
) -> list[AggregateRow]:
    """`usageAggregates`: the filter's tenant or partner is the row the caller's usage filter is chosen for.
    Forbidden when the caller reads no usage; UsageInputError on a bad window."""
    reach = _reach(caller, row_tenant_id=filter.tenant_id, row_partner_id=filter.partner_id)
    async with database.read() as session:
        return await usage_aggregates(session, filter, group_by, reach)


async def parent_usage(
    context: RequestContext,
    caller: CallerScope,
    parent: GroupBy,
    parent_id: uuid.UUID,
    request: UsageRequest,
    *,
    tenant_id: uuid.UUID | None = None,
) -> list[AggregateRow]:
    """A nested usage field (parent = SUBSCRIPTION, TENANT or PARTNER), loaded with its peers in one batch.

    `tenant_id` is the parent row's tenant (a Tenant's own id, a Subscription's tenant): the usage filter is
    chosen for that row. The window is checked here, before batching, so a bad one fails its own field only, as
    `aggregate_usage` does.
    """
    if parent is GroupBy.PARTNER:
        reach = _reach(caller, row_partner_id=parent_id)
    else:
        reach = _reach(caller, row_tenant_id=parent_id if parent is GroupBy.TENANT else tenant_id)
    check_window(request.filter(), request.group_by)
    return await usage_loaders_of(context, reach).load(parent, parent_id, request)


def _reach(
    caller: CallerScope, *, row_tenant_id: uuid.UUID | None = None, row_partner_id: uuid.UUID | None = None
) -> UsageVisibility:
    reach = usage_visibility(caller, row_tenant_id=row_tenant_id, row_partner_id=row_partner_id)
    if reach is None:
        raise Forbidden("usage is not readable with the caller's roles")
    return reach
