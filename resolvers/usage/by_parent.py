"""Usage aggregates of many parents (subscriptions, tenants or partners) in one query, split per parent.

One `usage_aggregates` call with a set of parents groups by that parent as well; each parent's rows are then
exactly what its own call (`subscription_id=`, `tenant_id=` or `partner_id=`) returns: the same rows in the
same order, with the parent's key cleared again where the caller did not group by it. The order holds because
rows are sorted by their whole key and the parent's part of it is the same on all of one parent's rows.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from auth.row_filters import UsageVisibility
from resolvers.usage.aggregate_types import AggregateFilter, AggregateRow, GroupBy
from resolvers.usage.aggregates import usage_aggregates

PARENTS = (GroupBy.SUBSCRIPTION, GroupBy.TENANT, GroupBy.PARTNER)


async def aggregates_by_parent(
    session: AsyncSession,
    filter: AggregateFilter,
    group_by: Sequence[GroupBy],
    reach: UsageVisibility,
    parent: GroupBy,
    parent_ids: Collection[uuid.UUID],
) -> dict[uuid.UUID, list[AggregateRow]]:
    """Every parent's rows (an empty list for one with none, or out of the caller's reach); UsageInputError as
    usage_aggregates."""
    rows = await usage_aggregates(session, _batched(filter, parent, frozenset(parent_ids)), group_by, reach)
    split: dict[uuid.UUID, list[AggregateRow]] = {parent_id: [] for parent_id in parent_ids}
    for row in rows:
        owner, own_row = _split(row, parent, parent in group_by)
        split[owner].append(own_row)
    return split


def _batched(filter: AggregateFilter, parent: GroupBy, ids: frozenset[uuid.UUID]) -> AggregateFilter:
    if parent is GroupBy.SUBSCRIPTION:
        return dataclasses.replace(filter, subscription_ids=ids)
    if parent is GroupBy.TENANT:
        return dataclasses.replace(filter, tenant_ids=ids)
    if parent is GroupBy.PARTNER:
        return dataclasses.replace(filter, partner_ids=ids)
    raise ValueError(f"{parent} is not a parent kind")


def _split(row: AggregateRow, parent: GroupBy, grouped: bool) -> tuple[uuid.UUID, AggregateRow]:
    """The row's parent, and the row as that parent's own query returns it."""
    if parent is GroupBy.SUBSCRIPTION and row.subscription_id is not None:
        return row.subscription_id, row if grouped else dataclasses.replace(row, subscription_id=None)
    if parent is GroupBy.TENANT and row.tenant_id is not None:
        return row.tenant_id, row if grouped else dataclasses.replace(row, tenant_id=None)
    if parent is GroupBy.PARTNER and row.partner_id is not None:
        # Partner rows name their partner whether grouped by PARTNER or not.
        return row.partner_id, row
    raise ValueError(f"a row of a batch by {parent} without its key")
