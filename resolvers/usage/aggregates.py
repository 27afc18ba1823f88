"""`usage_aggregates`: usage summed by month, day, service, subscription, tenant or partner, from the rollups.

Rows are always grouped by currency as well (amounts of two currencies are never added); partner-scoped reads
(plan.py) are grouped by partner and association type too and carry an attribution (aggregate_types.py).

Reach: the caller's usage filter (auth.row_filters.usage_visibility) is part of every statement's SQL: all usage
(platform), a tenant's subscriptions only, or a partner's attributed usage inside its association windows only.
A filter outside it yields no rows, not an error.

Sets of parents: a filter may name several subscriptions, tenants or partners at once (`subscription_ids`,
`tenant_ids`, `partner_ids`, for the DataLoaders of the nested usage fields); the rows are then grouped by that
parent too, so by_parent.py can split them into what each parent's own query returns.

The parts: plan.py picks the statements and their values, statements.py builds them (pure, once per shape),
conditions.py turns the filter into their WHERE, sums.py adds up what they return. This module runs them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from auth.row_filters import UsageVisibility
from resolvers.usage.aggregate_types import AggregateFilter, AggregateRow, GroupBy
from resolvers.usage.plan import plan
from resolvers.usage.sums import Totals, add_boundary_days, add_sums, aggregate_rows


async def usage_aggregates(
    session: AsyncSession, filter: AggregateFilter, group_by: Iterable[GroupBy], reach: UsageVisibility
) -> list[AggregateRow]:
    """Usage in [filter.date_from, filter.date_to] as the caller's usage filter allows; UsageInputError on a bad
    window."""
    planned = plan(filter, group_by, session.get_bind().dialect.name, reach)
    if planned is None:
        return []
    totals: Totals = {}
    for statement in planned.sums:
        add_sums(await session.execute(statement, planned.parameters), totals, attributed=planned.attributed)
    if planned.boundary is not None:
        add_boundary_days(await session.execute(planned.boundary, planned.parameters), planned.groups, totals)
    return aggregate_rows(totals, attributed=planned.attributed)
