"""Per-request DataLoaders of the nested usage fields: Subscription.usage, Tenant.usage, Partner.attributedUsage.

A key is (parent id, UsageRequest). The parents of one batch that ask for the same window and grouping are
aggregated in one `aggregates_by_parent` call (its 2-4 statements), so a page of 5 or 100 parents costs the
same; a request asking several distinct windows costs one call per distinct window, not per parent.

All of a batch's calls run in one read session, opened in `_load` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from strawberry.dataloader import DataLoader

from auth.row_filters import UsageVisibility
from db.engine import Database
from db.enums import AssociationType
from resolvers.context import RequestContext
from resolvers.usage.aggregate_types import AggregateFilter, AggregateRow, GroupBy
from resolvers.usage.by_parent import PARENTS, aggregates_by_parent


@dataclass(frozen=True, slots=True)
class UsageRequest:
    """What shapes a parent's usage besides the parent itself: keys with equal requests batch together."""

    date_from: date
    date_to: date  # inclusive
    group_by: frozenset[GroupBy]  # a set: the order of groupBy does not change the rows
    association_type: AssociationType | None = None

    def filter(self) -> AggregateFilter:
        return AggregateFilter(self.date_from, self.date_to, association_type=self.association_type)


UsageKey = tuple[uuid.UUID, UsageRequest]
UsageLoader = DataLoader[UsageKey, list[AggregateRow]]


class UsageLoaders:
    """One loader per parent kind, for one request and one usage filter of its caller."""

    def __init__(self, database: Database, reach: UsageVisibility) -> None:
        self._database, self._reach = database, reach
        self._loaders = {parent: self._loader(parent) for parent in PARENTS}

    async def load(self, parent: GroupBy, parent_id: uuid.UUID, request: UsageRequest) -> list[AggregateRow]:
        """The usage of one parent of kind `parent` (SUBSCRIPTION, TENANT or PARTNER), batched with its peers."""
        return await self._loaders[parent].load((parent_id, request))

    def _loader(self, parent: GroupBy) -> UsageLoader:
        async def load(keys: list[UsageKey]) -> list[list[AggregateRow]]:
            return await self._load(parent, keys)

        return DataLoader(load)

    async def _load(self, parent: GroupBy, keys: Sequence[UsageKey]) -> list[list[AggregateRow]]:
        parents: dict[UsageRequest, set[uuid.UUID]] = {}
        for parent_id, request in keys:
            parents.setdefault(request, set()).add(parent_id)
        results: dict[UsageKey, list[AggregateRow]] = {}
        async with self._database.read() as session:
            for request, ids in parents.items():
                group_by = sorted(request.group_by, key=lambda group: group.value)
                split = await aggregates_by_parent(session, request.filter(), group_by, self._reach, parent, ids)
                results.update({(parent_id, request): rows for parent_id, rows in split.items()})
        return [results[key] for key in keys]


def usage_loaders_of(context: RequestContext, reach: UsageVisibility) -> UsageLoaders:
    """The request's usage loaders for the usage filter `reach` (created on first use, dropped with the request).

    Kept apart from resolvers.loaders.Loaders: usage is read under the one usage filter the parent row calls for
    (auth.row_filters.usage_visibility), not under the union of row filters those loaders carry. One request has
    one caller, so the filter's shape tells its usage filters apart.
    """
    loaders = context.usage_loaders.get(reach.shape)
    if loaders is None:
        loaders = context.usage_loaders[reach.shape] = UsageLoaders(context.database, reach)
    return loaders
